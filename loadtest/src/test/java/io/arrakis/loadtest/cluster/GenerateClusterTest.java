package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.loadtest.placement.RouterAdmin;
import io.arrakis.loadtest.serve.GenerateCall;
import io.arrakis.loadtest.testing.Forward;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ChatMessage;
import io.arrakis.proto.v1.ChatMessages;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Whole models on real clusters: a router process serving each reference model made by Hugging Face
 * transformers, its routed experts on expert node processes, so that every MoE layer's tokens cross
 * nodes. Generate streams transformers' greedy tokens for the ids, text and chat forms of every
 * prompt; Forward returns each MoE block's whole output (routed and shared experts). On one model,
 * with every expert on two of three nodes: the plain Python client, a placement rollout and a kill
 * -9 of an expert node, each during generation, fail no stream. The OpenAI-compatible HTTP API
 * gives the same tokens on every cluster ({@link HttpReferenceChecks}), and the official openai npm
 * client runs against one.
 */
class GenerateClusterTest {
  private static final Duration DEADLINE = Duration.ofSeconds(60);

  static LocalCluster start(String model, int nodes, int replicas) throws Exception {
    Path state = Path.of("target", "generate-tests", model).toAbsolutePath();
    return LocalCluster.start(
        ClusterOptions.of(ReferenceModels.dir(model), nodes, state)
            .withStrategy(Strategies.Kind.CONTIGUOUS, replicas)
            .withJvmOptions(TestClusters.JVM_OPTIONS)
            .withComputeThreads(1)
            .withStartTimeout(Duration.ofSeconds(150)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen3_moe", "deepseek_v3"})
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void generateAndForwardMatchTransformersOnTwoNodes(String model) throws Exception {
    try (LocalCluster cluster = start(model, 2, 1)) {
      assertThat(cluster.placement().nodes())
          .allSatisfy(
              n ->
                  assertThat(n.experts())
                      .extracting(e -> e.layer())
                      .containsAll(ReferenceModels.moeLayers(model))); // every layer crosses nodes
      ManagedChannel channel = Forward.channel(cluster.routerAddress());
      try {
        assertReferenceGenerations(channel, model);
        assertMoeBlocks(channel, model);
        HttpReferenceChecks.assertReferenceCompletions(cluster, model);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  @Timeout(value = 400, unit = TimeUnit.SECONDS)
  void withReplicasNoStreamFailsThroughARolloutOrAKilledNode() throws Exception {
    String model = "qwen2_moe";
    try (LocalCluster cluster = start(model, 3, 2)) {
      assertThat(cluster.placement().nodes())
          .allSatisfy(
              n ->
                  assertThat(n.experts())
                      .extracting(e -> e.layer())
                      .containsAll(ReferenceModels.moeLayers(model))); // every layer crosses nodes
      ManagedChannel channel = Forward.channel(cluster.routerAddress());
      try {
        assertReferenceGenerations(channel, model);
        assertMoeBlocks(channel, model);

        HttpReferenceChecks.assertReferenceCompletions(cluster, model);
        HttpReferenceChecks.assertOpenAiClient(cluster, model);

        PythonClient.Outcome python =
            PythonClient.generate(cluster.routerAddress(), ReferenceModels.dir(model));
        assertThat(python.exitCode()).as("python client output:%n%s", python.output()).isZero();
        assertThat(python.output()).contains("prompt 5 (chat)", "PASS");

        try (Traffic traffic = new Traffic(channel, model)) {
          traffic.awaitCompleted(20);
          Placement before = cluster.placement();
          Placement next =
              new Placement(
                  before.version() + 1,
                  Strategies.place(
                          Strategies.Kind.ROUND_ROBIN, 3, 2, ReferenceModels.moeLayers(model), 16)
                      .nodes()
                      .stream()
                      .map(
                          n ->
                              n.withAddress(
                                  before.nodes().stream()
                                      .filter(b -> b.id().equals(n.id()))
                                      .findFirst()
                                      .orElseThrow()
                                      .address()))
                      .toList());
          ManagedChannel admin =
              RouterAdmin.connect(cluster.routerAddress(), cluster.security().routerClient());
          try {
            assertThat(
                    new RouterAdmin(
                            admin, cluster.routerAddress(), cluster.security().routerClient())
                        .setPlacement(next)
                        .getVersion())
                .isEqualTo(next.version());
          } finally {
            admin.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
          }
          traffic.awaitCompleted(20);
          cluster.killExpert("expert-1", Duration.ofSeconds(30));
          traffic.awaitCompleted(40);
          traffic.stopAndCheck();
        }
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  static SamplingParams greedy(int tokens) {
    return SamplingParams.newBuilder().setMaxTokens(tokens).setIgnoreEos(true).build();
  }

  static GenerateRequest ids(String id, int[] prompt, int tokens) {
    TokenIds.Builder t = TokenIds.newBuilder();
    for (int i : prompt) {
      t.addIds(i);
    }
    return GenerateRequest.newBuilder()
        .setRequestId(id)
        .setTokenIds(t)
        .setSampling(greedy(tokens))
        .build();
  }

  /** Every prompt of expected.json in its ids form, and its text or chat form, streamed at once. */
  static void assertReferenceGenerations(ManagedChannel channel, String model) throws Exception {
    List<GenerateCall> calls = new ArrayList<>();
    List<int[]> want = new ArrayList<>();
    List<Prompt> prompts = ReferenceModels.prompts(model);
    for (int i = 0; i < prompts.size(); i++) {
      Prompt p = prompts.get(i);
      int n = p.greedy().length;
      calls.add(GenerateCall.start(channel, ids(model + "-ids-" + i, p.ids(), n), DEADLINE));
      want.add(p.greedy());
      if (p.chat() != null) {
        ChatMessages.Builder chat = ChatMessages.newBuilder();
        for (JsonNode m : p.chat()) {
          chat.addMessages(
              ChatMessage.newBuilder()
                  .setRole(m.get("role").asText())
                  .setContent(m.get("content").asText()));
        }
        calls.add(
            GenerateCall.start(
                channel,
                GenerateRequest.newBuilder()
                    .setRequestId(model + "-chat-" + i)
                    .setChat(chat)
                    .setSampling(greedy(n))
                    .build(),
                DEADLINE));
        want.add(p.greedy());
      } else if (p.text() != null) {
        calls.add(
            GenerateCall.start(
                channel,
                GenerateRequest.newBuilder()
                    .setRequestId(model + "-text-" + i)
                    .setText(p.text())
                    .setSampling(greedy(n))
                    .build(),
                DEADLINE));
        want.add(p.greedy());
      }
    }
    for (int i = 0; i < calls.size(); i++) {
      GenerateCall c = calls.get(i).await(DEADLINE);
      assertThat(c.ok()).as("%s stream %d: %s", model, i, c.status()).isTrue();
      assertThat(c.tokens()).as("%s stream %d", model, i).containsExactly(want.get(i));
      assertThat(c.finishReason()).isEqualTo("length");
      assertThat(c.finishes()).isEqualTo(1);
      assertThat(c.usage().getCompletionTokens()).isEqualTo(want.get(i).length);
    }
  }

  /**
   * Forward of each MoE layer's input returns the block's output (routed + shared experts) as
   * transformers.
   */
  static void assertMoeBlocks(ManagedChannel channel, String model) throws Exception {
    InferenceGrpc.InferenceBlockingStub stub =
        InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    for (int layer : ReferenceModels.moeLayers(model)) {
      float[] in = ReferenceModels.expected(model, "moe_in_" + layer);
      float[] want = ReferenceModels.expected(model, "moe_out_" + layer);
      long[] shape =
          Fixtures.shape(
              ReferenceModels.dir(model).resolve("expected.safetensors"), "moe_in_" + layer);
      float[] got =
          TensorCodec.floats(
              stub.forward(
                      ForwardRequest.newBuilder()
                          .setRequestId("moe-" + layer)
                          .setLayer(layer)
                          .setHiddenStates(TensorCodec.encodeFloat(in, shape[0], shape[1]))
                          .build())
                  .getOutput());
      assertThat(Fixtures.maxAbsDiff(got, want))
          .as("%s layer %d", model, layer)
          .isLessThanOrEqualTo(1e-5f * Fixtures.maxAbs(want));
    }
  }

  /**
   * Greedy generations of the reference prompts, 8 streams at a time, each checked against
   * transformers'.
   */
  static final class Traffic implements AutoCloseable {
    private final ExecutorService callers = Executors.newFixedThreadPool(8);
    private final AtomicBoolean stop = new AtomicBoolean();
    private final AtomicInteger completed = new AtomicInteger();
    private final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
    private final List<Future<?>> loops = new ArrayList<>();

    Traffic(ManagedChannel channel, String model) throws Exception {
      List<Prompt> prompts = ReferenceModels.prompts(model);
      for (int c = 0; c < 8; c++) {
        int caller = c;
        loops.add(
            callers.submit(
                () -> {
                  for (int i = caller; !stop.get(); i += 8) {
                    Prompt p = prompts.get(i % prompts.size());
                    try {
                      GenerateCall call =
                          GenerateCall.start(
                                  channel,
                                  ids("traffic-" + i, p.ids(), p.greedy().length),
                                  DEADLINE)
                              .await(DEADLINE);
                      if (!call.ok()) {
                        problems.add("traffic-" + i + ": " + call.status());
                      } else if (!Arrays.equals(call.tokens(), p.greedy())) {
                        problems.add("traffic-" + i + ": tokens " + Arrays.toString(call.tokens()));
                      }
                      completed.incrementAndGet();
                    } catch (Exception e) {
                      problems.add("traffic-" + i + ": " + e);
                    }
                  }
                  return null;
                }));
      }
    }

    /** Waits until {@code n} more streams have completed. */
    void awaitCompleted(int n) throws InterruptedException {
      int target = completed.get() + n;
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (completed.get() < target && System.nanoTime() < until && problems.isEmpty()) {
        Thread.sleep(20);
      }
      assertThat(problems).as("failed or wrong streams").isEmpty();
      assertThat(completed.get()).as("streams completed").isGreaterThanOrEqualTo(target);
    }

    void stopAndCheck() throws Exception {
      stop.set(true);
      for (Future<?> f : loops) {
        f.get(120, TimeUnit.SECONDS);
      }
      assertThat(problems).as("failed or wrong streams").isEmpty();
    }

    @Override
    public void close() {
      stop.set(true);
      callers.shutdownNow();
    }
  }
}
