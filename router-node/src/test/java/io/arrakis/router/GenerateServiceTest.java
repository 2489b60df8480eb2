package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.proto.v1.ChatMessage;
import io.arrakis.proto.v1.ChatMessages;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenIds;
import io.arrakis.router.serve.Scheduler;
import io.arrakis.router.serve.Serving;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * gRPC Generate end to end over loopback, on a router serving the Qwen2-MoE reference model (a
 * sigmoid-gated shared expert on the router) with its routed experts on two nodes computed in this
 * JVM behind the real dispatch path: transformers' greedy tokens for ids, text and chat prompts;
 * Forward adds the shared expert; bad requests, admission, abandoned streams.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GenerateServiceTest {
  static final String MODEL = "qwen2_moe";
  static final int MAX_SEQUENCES = 48;
  RouterHarness harness;
  Serving serving;
  SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeAll
  void start() throws Exception {
    Path dir = ReferenceModels.dir(MODEL);
    Config config = ConfigFactory.parseMap(Map.of("arrakis.router.serve.kv-cache-mb", 8,
        "arrakis.router.serve.block-size", 4, "arrakis.router.serve.max-sequences", MAX_SEQUENCES)).withFallback(
        ConfigFactory.load());
    harness = new RouterHarness(dir, RouterHarness.placement(dir, "contiguous", 2, 1), RouterHarness.settings(),
        RouterHarness.loopback(), registry, config);
    serving = harness.router.serving().orElseThrow();
  }

  @AfterAll
  void stop() throws Exception {
    harness.close();
  }

  static SamplingParams greedy(int maxTokens) {
    return SamplingParams.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true).build();
  }

  static GenerateRequest ids(String id, int[] prompt, SamplingParams sampling) {
    TokenIds.Builder t = TokenIds.newBuilder();
    Arrays.stream(prompt).forEach(t::addIds);
    return GenerateRequest.newBuilder().setRequestId(id).setTokenIds(t).setSampling(sampling).build();
  }

  @Test
  void idsTextAndChatPromptsStreamTransformersGreedyTokensAndText() throws Exception {
    List<Prompt> prompts = ReferenceModels.prompts(MODEL);
    List<GenerateStream> streams = new ArrayList<>();
    List<int[]> want = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      Prompt p = prompts.get(i);
      streams.add(GenerateStream.start(harness.channel, ids("ids-" + i, p.ids(), greedy(p.greedy().length))));
      want.add(p.greedy());
      if (p.chat() != null) {
        ChatMessages.Builder chat = ChatMessages.newBuilder();
        for (JsonNode m : p.chat()) {
          chat.addMessages(ChatMessage.newBuilder().setRole(m.get("role").asText()).setContent(m.get("content").asText()));
        }
        streams.add(GenerateStream.start(harness.channel, GenerateRequest.newBuilder().setRequestId("chat-" + i)
            .setChat(chat).setSampling(greedy(p.greedy().length)).build()));
        want.add(p.greedy());
      } else if (p.text() != null) {
        streams.add(GenerateStream.start(harness.channel, GenerateRequest.newBuilder().setRequestId("text-" + i)
            .setText(p.text()).setSampling(greedy(p.greedy().length)).build()));
        want.add(p.greedy());
      }
    }
    try (ModelTokenizer tokenizer = ModelTokenizer.open(ReferenceModels.dir(MODEL))) {
      for (int i = 0; i < streams.size(); i++) {
        GenerateStream s = streams.get(i);
        assertThat(s.await().getCode()).as("stream %d", i).isEqualTo(Status.Code.OK);
        assertThat(s.tokens()).as("stream %d", i).containsExactly(want.get(i));
        assertThat(s.text()).as("stream %d text", i).isEqualTo(tokenizer.tokenizer().decode(want.get(i), true));
        assertThat(s.messages).allSatisfy(m -> assertThat(m.getRequestId()).isEqualTo(s.last().getRequestId()));
        assertThat(s.last().getFinishReason()).isEqualTo("length");
        assertThat(s.last().getUsage().getCompletionTokens()).isEqualTo(12);
        assertThat(s.messages.subList(0, s.messages.size() - 1)).allSatisfy(m -> assertThat(m.getFinishReason()).isEmpty());
      }
    }
    assertThat(streams.get(0).last().getUsage().getPromptTokens()).isEqualTo(prompts.get(0).ids().length);
  }

  /** The layer API of a whole model: the MoE block's whole output, routed and shared experts, as transformers'. */
  @Test
  void forwardOfEveryMoeLayerAddsTheSharedExpert() throws Exception {
    int d = harness.model.config().hiddenSize();
    for (int layer : ReferenceModels.moeLayers(MODEL)) {
      float[] in = ReferenceModels.expected(MODEL, "moe_in_" + layer);
      float[] want = ReferenceModels.expected(MODEL, "moe_out_" + layer);
      float[] got = TensorCodec.floats(harness.inference().forward(ForwardRequest.newBuilder().setRequestId("moe")
          .setLayer(layer).setHiddenStates(TensorCodec.encodeFloat(in, in.length / d, d)).build()).getOutput());
      assertThat(Fixtures.maxAbsDiff(got, want)).as("layer %d", layer).isLessThanOrEqualTo(1e-5f * Fixtures.maxAbs(want));
    }
  }

  @Test
  void badRequestsAreRefusedNamingTheField() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(0).ids();
    SamplingParams.Builder tooManyStops = greedy(4).toBuilder();
    for (int i = 0; i < 33; i++) {
      tooManyStops.addStop("stop-" + i);
    }
    expectRefused(ids("stops", prompt, tooManyStops.build()), Status.Code.INVALID_ARGUMENT, "stop", "32");
    expectRefused(ids("long", new int[serving.model().contextTokens()], greedy(4)), Status.Code.INVALID_ARGUMENT,
        "context");
    expectRefused(ids("vocab", new int[] {1, 512}, greedy(4)), Status.Code.INVALID_ARGUMENT, "token_ids[1]");
    expectRefused(GenerateRequest.newBuilder().setRequestId("none").build(), Status.Code.INVALID_ARGUMENT, "prompt");
    expectRefused(ids("temp", prompt, greedy(4).toBuilder().setTemperature(Float.NaN).build()),
        Status.Code.INVALID_ARGUMENT, "temperature");
    expectRefused(GenerateRequest.newBuilder().setRequestId("empty").setText("").build(), Status.Code.INVALID_ARGUMENT,
        "empty");
  }

  private void expectRefused(GenerateRequest request, Status.Code code, String... words) throws Exception {
    GenerateStream s = GenerateStream.start(harness.channel, request);
    Status status = s.await();
    assertThat(status.getCode()).as(request.getRequestId()).isEqualTo(code);
    assertThat(status.getDescription()).as(request.getRequestId()).contains(words);
    assertThat(s.messages).isEmpty();
  }

  /** Past max-sequences new requests are refused at once; the accepted ones all finish. */
  @Test
  void pastTheAdmissionLimitRequestsAreRefusedAtOnceAndTheAcceptedOnesComplete() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(1).ids();
    List<GenerateStream> streams = new ArrayList<>();
    for (int i = 0; i < 2 * MAX_SEQUENCES; i++) {
      streams.add(GenerateStream.start(harness.channel, ids("admit-" + i, prompt, greedy(48))));
    }
    int refused = 0;
    for (GenerateStream s : streams) {
      Status status = s.await();
      if (status.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
        refused++;
        assertThat(status.getDescription()).contains("max-sequences");
        assertThat(s.messages).isEmpty();
      } else {
        assertThat(status.getCode()).isEqualTo(Status.Code.OK);
        assertThat(s.last().getFinishReason()).isEqualTo("length");
        assertThat(s.tokens()).hasSize(48);
      }
    }
    assertThat(refused).isBetween(MAX_SEQUENCES / 2, MAX_SEQUENCES);
    awaitIdle();
  }

  /** 200 streams cancelled by their clients mid-way: every KV block comes back, and the router keeps serving. */
  @Test
  void abandonedStreamsFreeTheirKvBlocksAndTheRouterKeepsServing() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(2).ids();
    for (int wave = 0; wave < 5; wave++) {
      List<GenerateStream> streams = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        streams.add(GenerateStream.start(harness.channel, ids("abandon-" + wave + "-" + i, prompt, greedy(200))));
      }
      for (GenerateStream s : streams) {
        s.first.get(60, TimeUnit.SECONDS);
        s.cancel();
      }
      for (GenerateStream s : streams) {
        assertThat(s.await().getCode()).isEqualTo(Status.Code.CANCELLED);
        assertThat(s.tokens().length).isLessThan(200);
      }
    }
    awaitIdle();
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    GenerateStream after = GenerateStream.start(harness.channel, ids("after", p.ids(), greedy(12)));
    assertThat(after.await().getCode()).isEqualTo(Status.Code.OK);
    assertThat(after.tokens()).containsExactly(p.greedy());
  }

  /** Until the KV-cache metric is back at its idle value (no block used) and no sequence is left. */
  private void awaitIdle() throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    Scheduler.State s;
    do {
      Thread.sleep(50);
      CompletionStage<Scheduler.State> ask = AskPattern.ask(serving.scheduler(), Scheduler.GetState::new,
          Duration.ofSeconds(5), harness.router.system().scheduler());
      s = ask.toCompletableFuture().get(10, TimeUnit.SECONDS);
    } while ((s.usedBlocks() > 0 || s.running() + s.waiting() > 0) && System.nanoTime() < until);
    assertThat(s.usedBlocks()).isZero();
    assertThat(s.running() + s.waiting()).isZero();
    assertThat(registry.get("arrakis_serve_kv_blocks").tag("state", "used").gauge().value()).isZero();
  }
}
