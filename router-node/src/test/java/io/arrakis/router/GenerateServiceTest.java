package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.proto.v1.ChatMessage;
import io.arrakis.proto.v1.ChatMessages;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ExpertLoad;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenIds;
import io.arrakis.router.grpc.RouterAccess;
import io.arrakis.router.serve.GenerationListener;
import io.arrakis.router.serve.GenerationRequest;
import io.arrakis.router.serve.Scheduler;
import io.arrakis.router.serve.Serving;
import io.arrakis.security.BearerToken;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.slf4j.LoggerFactory;

/**
 * gRPC Generate end to end over loopback, on a router serving the Qwen2-MoE reference model (a
 * sigmoid-gated shared expert on the router) with its routed experts on two nodes computed in this
 * JVM behind the real dispatch path: transformers' greedy tokens for ids, text and chat prompts;
 * Forward adds the shared expert; seeded sampling; the serving metrics, the log line per request
 * and the expert load that generation counts; bearer tokens; bad requests, admission, abandoned
 * streams.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GenerateServiceTest {
  static final String MODEL = "qwen2_moe";
  static final int MAX_SEQUENCES = 48;
  static final int STREAM_BUFFER = 16;
  RouterHarness harness;
  Serving serving;
  SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeAll
  void start() throws Exception {
    Path dir = ReferenceModels.dir(MODEL);
    Config config =
        ConfigFactory.parseMap(
                Map.of(
                    "arrakis.router.serve.kv-cache-mb",
                    8,
                    "arrakis.router.serve.block-size",
                    4,
                    "arrakis.router.serve.max-sequences",
                    MAX_SEQUENCES,
                    "arrakis.router.serve.stream-buffer",
                    STREAM_BUFFER))
            .withFallback(ConfigFactory.load());
    harness = RouterHarness.serving(dir, registry, config);
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
    return GenerateRequest.newBuilder()
        .setRequestId(id)
        .setTokenIds(t)
        .setSampling(sampling)
        .build();
  }

  @Test
  void idsTextAndChatPromptsStreamTransformersGreedyTokensAndText() throws Exception {
    List<Prompt> prompts = ReferenceModels.prompts(MODEL);
    List<GenerateStream> streams = new ArrayList<>();
    List<int[]> want = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      Prompt p = prompts.get(i);
      streams.add(
          GenerateStream.start(
              harness.channel, ids("ids-" + i, p.ids(), greedy(p.greedy().length))));
      want.add(p.greedy());
      if (p.chat() != null) {
        ChatMessages.Builder chat = ChatMessages.newBuilder();
        for (JsonNode m : p.chat()) {
          chat.addMessages(
              ChatMessage.newBuilder()
                  .setRole(m.get("role").asText())
                  .setContent(m.get("content").asText()));
        }
        streams.add(
            GenerateStream.start(
                harness.channel,
                GenerateRequest.newBuilder()
                    .setRequestId("chat-" + i)
                    .setChat(chat)
                    .setSampling(greedy(p.greedy().length))
                    .build()));
        want.add(p.greedy());
      } else if (p.text() != null) {
        streams.add(
            GenerateStream.start(
                harness.channel,
                GenerateRequest.newBuilder()
                    .setRequestId("text-" + i)
                    .setText(p.text())
                    .setSampling(greedy(p.greedy().length))
                    .build()));
        want.add(p.greedy());
      }
    }
    try (ModelTokenizer tokenizer = ModelTokenizer.open(ReferenceModels.dir(MODEL))) {
      for (int i = 0; i < streams.size(); i++) {
        GenerateStream s = streams.get(i);
        assertThat(s.await().getCode()).as("stream %d", i).isEqualTo(Status.Code.OK);
        assertThat(s.tokens()).as("stream %d", i).containsExactly(want.get(i));
        assertThat(s.text())
            .as("stream %d text", i)
            .isEqualTo(tokenizer.tokenizer().decode(want.get(i), true));
        assertThat(s.messages)
            .allSatisfy(m -> assertThat(m.getRequestId()).isEqualTo(s.last().getRequestId()));
        assertThat(s.last().getFinishReason()).isEqualTo("length");
        assertThat(s.last().getUsage().getCompletionTokens()).isEqualTo(12);
        assertThat(s.messages.subList(0, s.messages.size() - 1))
            .allSatisfy(m -> assertThat(m.getFinishReason()).isEmpty());
      }
    }
    assertThat(streams.get(0).last().getUsage().getPromptTokens())
        .isEqualTo(prompts.get(0).ids().length);
  }

  /**
   * The layer API of a whole model: the MoE block's whole output, routed and shared experts, as
   * transformers'.
   */
  @Test
  void forwardOfEveryMoeLayerAddsTheSharedExpert() throws Exception {
    int d = harness.model.config().hiddenSize();
    for (int layer : ReferenceModels.moeLayers(MODEL)) {
      float[] in = ReferenceModels.expected(MODEL, "moe_in_" + layer);
      float[] want = ReferenceModels.expected(MODEL, "moe_out_" + layer);
      float[] got =
          TensorCodec.floats(
              harness
                  .inference()
                  .forward(
                      ForwardRequest.newBuilder()
                          .setRequestId("moe")
                          .setLayer(layer)
                          .setHiddenStates(TensorCodec.encodeFloat(in, in.length / d, d))
                          .build())
                  .getOutput());
      assertThat(Fixtures.maxAbsDiff(got, want))
          .as("layer %d", layer)
          .isLessThanOrEqualTo(1e-5f * Fixtures.maxAbs(want));
    }
  }

  /**
   * 64 streams of prompts from 1 to 150 tokens at once (prefill chunked over steps, blocks of 4
   * tokens) get exactly the greedy tokens each gets alone, with 2 micro-batches and with 1: over
   * gRPC and the dispatch path, as SchedulerTest checks it at the scheduler.
   */
  @Test
  void sixtyFourConcurrentStreamsGetWhatEachGetsAloneWithOneOrTwoMicroBatches() throws Exception {
    List<int[]> prompts = new ArrayList<>();
    SplittableRandom random = new SplittableRandom(64);
    for (int i = 0; i < 64; i++) {
      int[] p = new int[1 + (i * 37) % 150];
      for (int j = 0; j < p.length; j++) {
        p[j] = random.nextInt(512);
      }
      prompts.add(p);
    }
    List<int[]> alone = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      GenerateStream s =
          GenerateStream.start(harness.channel, ids("alone-" + i, prompts.get(i), greedy(8)));
      assertThat(s.await().getCode()).isEqualTo(Status.Code.OK);
      alone.add(s.tokens());
    }
    for (int microBatches : new int[] {2, 1}) {
      Config config =
          ConfigFactory.parseMap(
                  Map.of(
                      "arrakis.router.serve.kv-cache-mb",
                      8,
                      "arrakis.router.serve.block-size",
                      4,
                      "arrakis.router.serve.micro-batches",
                      microBatches,
                      "arrakis.router.serve.max-step-tokens",
                      128))
              .withFallback(ConfigFactory.load());
      Path dir = ReferenceModels.dir(MODEL);
      try (RouterHarness own = RouterHarness.serving(dir, new SimpleMeterRegistry(), config)) {
        List<GenerateStream> together = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
          together.add(
              GenerateStream.start(own.channel, ids("together-" + i, prompts.get(i), greedy(8))));
        }
        for (int i = 0; i < prompts.size(); i++) {
          assertThat(together.get(i).await().getCode())
              .as("stream %d", i)
              .isEqualTo(Status.Code.OK);
          assertThat(together.get(i).tokens())
              .as("%d micro-batches, prompt %d (%d tokens)", microBatches, i, prompts.get(i).length)
              .containsExactly(alone.get(i));
        }
      }
    }
  }

  /**
   * A sampled stream with a seed repeats whatever runs beside it; another seed samples otherwise.
   */
  @Test
  void aSeededSampledStreamRepeats() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(3).ids();
    SamplingParams sampled =
        SamplingParams.newBuilder()
            .setMaxTokens(16)
            .setTemperature(1.3f)
            .setTopP(0.95f)
            .setTopK(50)
            .setSeed(11)
            .setIgnoreEos(true)
            .build();
    GenerateStream first = GenerateStream.start(harness.channel, ids("seeded-1", prompt, sampled));
    List<GenerateStream> crowd = new ArrayList<>();
    for (Prompt p : ReferenceModels.prompts(MODEL)) {
      crowd.add(GenerateStream.start(harness.channel, ids("crowd", p.ids(), greedy(16))));
    }
    GenerateStream again = GenerateStream.start(harness.channel, ids("seeded-2", prompt, sampled));
    GenerateStream otherSeed =
        GenerateStream.start(
            harness.channel, ids("seeded-3", prompt, sampled.toBuilder().setSeed(12).build()));
    GenerateStream greedy =
        GenerateStream.start(harness.channel, ids("greedy", prompt, greedy(16)));
    for (GenerateStream s : List.of(first, again, otherSeed, greedy)) {
      assertThat(s.await().getCode()).isEqualTo(Status.Code.OK);
      assertThat(s.tokens()).hasSize(16);
    }
    for (GenerateStream s : crowd) {
      assertThat(s.await().getCode()).isEqualTo(Status.Code.OK);
    }
    assertThat(again.tokens()).containsExactly(first.tokens());
    assertThat(otherSeed.tokens()).isNotEqualTo(first.tokens());
    assertThat(first.tokens()).as("sampled, not greedy").isNotEqualTo(greedy.tokens());
  }

  /**
   * What serving people look at, after streams of known lengths: TTFT, TPOT, ITL and end-to-end
   * histograms, tokens per step, finished requests, micro-batch busy time, per-node MoE call
   * latency, one log line per finished request; and the expert load that placement plans from
   * counts every token generation sent through each MoE layer's gate.
   */
  @Test
  void servingMetricsLogLinesAndExpertLoadCountGeneration() throws Exception {
    Config config =
        ConfigFactory.parseMap(
                Map.of("arrakis.router.serve.kv-cache-mb", 8, "arrakis.router.serve.block-size", 4))
            .withFallback(ConfigFactory.load());
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Path dir = ReferenceModels.dir(MODEL);
    List<Prompt> prompts = ReferenceModels.prompts(MODEL);
    RequestLog log = RequestLog.attach();
    try (RouterHarness own = RouterHarness.serving(dir, meters, config)) {
      List<GenerateStream> streams = new ArrayList<>();
      long fed =
          0; // tokens through each MoE layer: the prompt, then every generated token but the last
      for (int i = 0; i < prompts.size(); i++) {
        int n = 4 + i;
        streams.add(
            GenerateStream.start(
                own.channel, ids("metered-" + i, prompts.get(i).ids(), greedy(n))));
        fed += prompts.get(i).ids().length + n - 1;
      }
      long generated = 0;
      for (GenerateStream s : streams) {
        assertThat(s.await().getCode()).isEqualTo(Status.Code.OK);
        generated += s.tokens().length;
      }
      int requests = prompts.size();
      // the scheduler counts and logs a request just after its last message goes out
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while ((meters.get("arrakis_serve_e2e_latency").timer().count() < requests
              || log.lines("finished") < requests)
          && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      assertThat(meters.get("arrakis_serve_time_to_first_token").timer().count())
          .isEqualTo(requests);
      assertThat(meters.get("arrakis_serve_time_per_output_token").timer().count())
          .isEqualTo(requests);
      assertThat(meters.get("arrakis_serve_e2e_latency").timer().count()).isEqualTo(requests);
      assertThat(meters.get("arrakis_serve_inter_token_latency").timer().count())
          .isEqualTo(generated - requests);
      assertThat(meters.get("arrakis_serve_generation_tokens").counter().count())
          .isEqualTo(generated);
      assertThat(
              meters
                  .get("arrakis_serve_requests_finished")
                  .tag("reason", "length")
                  .counter()
                  .count())
          .isEqualTo(requests);
      assertThat(meters.get("arrakis_serve_step_tokens").summary().totalAmount())
          .as("tokens in steps")
          .isEqualTo(fed);
      assertThat(
              meters
                      .get("arrakis_serve_busy_seconds")
                      .tag("side", "router")
                      .functionCounter()
                      .count()
                  + meters
                      .get("arrakis_serve_busy_seconds")
                      .tag("side", "both")
                      .functionCounter()
                      .count())
          .isPositive();
      assertThat(
              meters
                      .get("arrakis_serve_busy_seconds")
                      .tag("side", "experts")
                      .functionCounter()
                      .count()
                  + meters
                      .get("arrakis_serve_busy_seconds")
                      .tag("side", "both")
                      .functionCounter()
                      .count())
          .isPositive();
      for (String node : List.of("expert-0", "expert-1")) {
        assertThat(meters.get("arrakis_router_node_call_latency").tag("node", node).timer().count())
            .as(node)
            .isPositive();
      }
      for (int i = 0; i < requests; i++) {
        assertThat(log.lines("request metered-" + i + " finished: length"))
            .as("log lines of metered-%d", i)
            .isEqualTo(1);
      }

      var cluster =
          ClusterGrpc.newBlockingStub(own.channel).withDeadlineAfter(10, TimeUnit.SECONDS);
      LoadStats stats = cluster.getLoadStats(GetLoadStatsRequest.getDefaultInstance());
      int topK = own.model.config().topK();
      assertThat(stats.getExpertsList()).isNotEmpty();
      for (int layer : ReferenceModels.moeLayers(MODEL)) {
        assertThat(
                stats.getExpertsList().stream()
                    .filter(e -> e.getExpert().getLayer() == layer)
                    .mapToLong(ExpertLoad::getTokens)
                    .sum())
            .as("token-expert pairs of layer %d", layer)
            .isEqualTo(fed * topK);
      }
    } finally {
      log.detach();
    }
  }

  /** With a bearer token configured, Generate (as Forward) needs it. */
  /** The request log reads the same in any locale: "12.3 ms", never a German "12,3 ms". */
  @Test
  void theRequestLogWritesMillisecondsTheSameInAnyLocale() throws Exception {
    RequestLog log = RequestLog.attach();
    Locale saved = Locale.getDefault();
    Locale.setDefault(Locale.GERMANY);
    try {
      GenerateStream s =
          GenerateStream.start(
              harness.channel,
              ids("in-german", ReferenceModels.prompts(MODEL).get(0).ids(), greedy(3)));
      assertThat(s.await().getCode()).isEqualTo(Status.Code.OK);
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (log.lines("request in-german finished") == 0 && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      assertThat(log.matching("request in-german finished"))
          .singleElement()
          .asString()
          .containsPattern("first token \\d+\\.\\d ms, total \\d+\\.\\d ms");
    } finally {
      Locale.setDefault(saved);
      log.detach();
    }
  }

  @Test
  void withABearerTokenGenerateNeedsIt() throws Exception {
    Path dir = ReferenceModels.dir(MODEL);
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    try (RouterHarness own =
        new RouterHarness(
            dir,
            RouterHarness.placement(dir, "contiguous", 2, 1),
            RouterHarness.settings(),
            RouterHarness.loopback().intercept(RouterAccess.policy("tok-9", null, false)),
            new SimpleMeterRegistry(),
            ConfigFactory.load())) {
      InferenceGrpc.InferenceStub stub = InferenceGrpc.newStub(own.channel);
      GenerateStream none = GenerateStream.start(stub, ids("none", p.ids(), greedy(12)));
      GenerateStream wrong =
          GenerateStream.start(
              stub.withCallCredentials(new BearerToken("tok-8")),
              ids("wrong", p.ids(), greedy(12)));
      GenerateStream right =
          GenerateStream.start(
              stub.withCallCredentials(new BearerToken("tok-9")),
              ids("right", p.ids(), greedy(12)));
      assertThat(none.await().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(wrong.await().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(none.messages).isEmpty();
      assertThat(right.await().getCode()).isEqualTo(Status.Code.OK);
      assertThat(right.tokens()).containsExactly(p.greedy());
    }
  }

  /** The scheduler's request log lines, as the router writes them. */
  private static final class RequestLog extends AppenderBase<ILoggingEvent> {
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Logger logger =
        (Logger) LoggerFactory.getLogger("io.arrakis.router.serve.requests");

    static RequestLog attach() {
      RequestLog log = new RequestLog();
      log.start();
      log.logger.addAppender(log);
      return log;
    }

    void detach() {
      logger.detachAppender(this);
    }

    @Override
    protected void append(ILoggingEvent event) {
      lines.add(event.getFormattedMessage());
    }

    long lines(String part) {
      return matching(part).size();
    }

    List<String> matching(String part) {
      return lines.stream().filter(l -> l.contains(part)).toList();
    }
  }

  @Test
  void badRequestsAreRefusedNamingTheField() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(0).ids();
    SamplingParams.Builder tooManyStops = greedy(4).toBuilder();
    for (int i = 0; i < 33; i++) {
      tooManyStops.addStop("stop-" + i);
    }
    expectRefused(
        ids("stops", prompt, tooManyStops.build()), Status.Code.INVALID_ARGUMENT, "stop", "32");
    expectRefused(
        ids("long", new int[serving.model().contextTokens()], greedy(4)),
        Status.Code.INVALID_ARGUMENT,
        "context");
    expectRefused(
        ids("vocab", new int[] {1, 512}, greedy(4)), Status.Code.INVALID_ARGUMENT, "token_ids[1]");
    expectRefused(
        GenerateRequest.newBuilder().setRequestId("none").build(),
        Status.Code.INVALID_ARGUMENT,
        "prompt");
    expectRefused(
        ids("temp", prompt, greedy(4).toBuilder().setTemperature(Float.NaN).build()),
        Status.Code.INVALID_ARGUMENT,
        "temperature");
    expectRefused(
        ids("logprobs", prompt, greedy(4).toBuilder().setLogprobs(21).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.logprobs",
        "between 0 and 20");
    expectRefused(
        ids("prompt-logprobs", prompt, greedy(4).toBuilder().setPromptLogprobs(21).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.prompt_logprobs",
        "between 0 and 20");
    expectRefused(
        ids("presence", prompt, greedy(4).toBuilder().setPresencePenalty(-3).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.presence_penalty",
        "[-2, 2]");
    expectRefused(
        ids("frequency", prompt, greedy(4).toBuilder().setFrequencyPenalty(Float.NaN).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.frequency_penalty");
    expectRefused(
        ids("repetition", prompt, greedy(4).toBuilder().setRepetitionPenalty(-1).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.repetition_penalty",
        "(0, 10]");
    expectRefused(
        ids("bias-id", prompt, greedy(4).toBuilder().putLogitBias(512, 1f).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.logit_bias",
        "vocabulary");
    expectRefused(
        ids("bias-value", prompt, greedy(4).toBuilder().putLogitBias(3, -150f).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.logit_bias",
        "[-100, 100]");
    expectRefused(
        ids("stop-id", prompt, greedy(4).toBuilder().addStopTokenIds(-1).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.stop_token_ids",
        "4294967295",
        "vocabulary");
    expectRefused(
        ids("salt", prompt, greedy(4)).toBuilder().setCacheSalt("s".repeat(257)).build(),
        Status.Code.INVALID_ARGUMENT,
        "cache_salt",
        "1 to 256");
    expectRefused(
        ids("min-tokens", prompt, greedy(4).toBuilder().setMinTokens(5).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.min_tokens",
        "max_tokens (4)");
    expectRefused(
        ids("logprobs-huge", prompt, greedy(4).toBuilder().setLogprobs(-1).build()),
        Status.Code.INVALID_ARGUMENT,
        "sampling.logprobs",
        "4294967295");
    expectRefused(
        GenerateRequest.newBuilder().setRequestId("empty").setText("").build(),
        Status.Code.INVALID_ARGUMENT,
        "empty");
  }

  private void expectRefused(GenerateRequest request, Status.Code code, String... words)
      throws Exception {
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

  /**
   * 200 streams cancelled by their clients mid-way: every KV block comes back, and the router keeps
   * serving.
   */
  @Test
  void abandonedStreamsFreeTheirKvBlocksAndTheRouterKeepsServing() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(2).ids();
    for (int wave = 0; wave < 5; wave++) {
      List<GenerateStream> streams = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        streams.add(
            GenerateStream.start(
                harness.channel, ids("abandon-" + wave + "-" + i, prompt, greedy(200))));
      }
      for (GenerateStream s : streams) {
        s.first.get(60, TimeUnit.SECONDS);
        s.cancel();
      }
      for (GenerateStream s : streams) {
        assertThat(s.await().getCode()).isEqualTo(Status.Code.CANCELLED);
        assertThat(s.tokens().length).isLessThan(200);
      }
      // a client sees CANCELLED as soon as it cancels; the router frees the sequences (and their
      // places under max-sequences) when the cancellations reach it: each wave must leave it idle
      awaitIdle();
    }
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    GenerateStream after = GenerateStream.start(harness.channel, ids("after", p.ids(), greedy(12)));
    assertThat(after.await().getCode()).isEqualTo(Status.Code.OK);
    assertThat(after.tokens()).containsExactly(p.greedy());
  }

  /**
   * A client that stops reading its socket costs the router what gRPC's transport holds for it (the
   * client's HTTP/2 window and 32 KiB) plus {@code stream-buffer} messages: then its request is
   * cancelled and its sequence freed; once it reads again it finds the messages sent and
   * RESOURCE_EXHAUSTED naming why. The same client reading on gets all its tokens.
   */
  @Test
  void aClientThatStopsReadingLosesItsRequestPastTheStreamBuffer() throws Exception {
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    int maxTokens = ArchConfig.load(ReferenceModels.dir(MODEL)).maxPositions() - p.ids().length;
    // long ids make long messages: the transport's 32 KiB fill in ~130 of them
    String id = "stalled-" + "x".repeat(240);
    try (StallingRelay relay = new StallingRelay(harness.router.port())) {
      ManagedChannel client =
          NettyChannelBuilder.forAddress("127.0.0.1", relay.port())
              .usePlaintext()
              .flowControlWindow(1024)
              .build();
      try {
        GenerateStream reading = GenerateStream.start(client, ids(id, p.ids(), greedy(maxTokens)));
        assertThat(reading.await().getCode()).isEqualTo(Status.Code.OK);
        assertThat(reading.tokens()).hasSize(maxTokens);

        relay.stall();
        GenerateStream stalled = GenerateStream.start(client, ids(id, p.ids(), greedy(maxTokens)));
        awaitIdle(); // the request ended while its client read nothing
        relay.resume();
        Status status = stalled.await();
        assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(status.getDescription()).contains("did not read", "serve.stream-buffer");
        assertThat(stalled.tokens().length).isBetween(STREAM_BUFFER, maxTokens - 1);
      } finally {
        client.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * The router's time to first token and end-to-end latency start when its public API received the
   * request, not when the request reached the scheduler: what the API spent (parsing, tokenizing,
   * waiting for a place) is the client's time too.
   */
  @Test
  void timeToFirstTokenCountsFromWhenTheApiReceivedTheRequest() throws Exception {
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    Timer ttft = registry.get("arrakis_serve_time_to_first_token").timer();
    Timer e2e = registry.get("arrakis_serve_e2e_latency").timer();
    long e2eBefore = e2e.count();
    double maxBefore = ttft.max(TimeUnit.SECONDS);
    CompletableFuture<GenerationListener.Finish> finished = new CompletableFuture<>();
    long received = System.nanoTime() - TimeUnit.SECONDS.toNanos(30);
    serving.submit(
        new GenerationRequest(
            "received-long-ago",
            new GenerationRequest.Prompt.TokenIds(p.ids()),
            GenerationRequest.Sampling.greedy(4).withStops(GenerationRequest.Stops.ignoringEos()),
            null,
            received,
            System.nanoTime() + TimeUnit.MINUTES.toNanos(1)),
        new GenerationListener() {
          @Override
          public void onTokens(int[] tokenIds, String text, List<TokenLogprobs> logprobs) {}

          @Override
          public void onFinished(
              int[] tokenIds, String text, List<TokenLogprobs> logprobs, Finish finish) {
            finished.complete(finish);
          }

          @Override
          public void onFailed(Status status) {
            finished.completeExceptionally(status.asRuntimeException());
          }
        });
    assertThat(finished.get(60, TimeUnit.SECONDS).reason()).isEqualTo(FinishReason.LENGTH);
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (e2e.count() == e2eBefore && System.nanoTime() < until) {
      Thread.sleep(10); // the scheduler records just after the last message goes out
    }
    assertThat(maxBefore).as("no earlier request took 30 s").isLessThan(30);
    assertThat(ttft.max(TimeUnit.SECONDS)).as("TTFT (s)").isGreaterThanOrEqualTo(30);
    assertThat(e2e.max(TimeUnit.SECONDS)).as("end to end (s)").isGreaterThanOrEqualTo(30);
  }

  /** A front end whose listener throws ends its own request, not the scheduler that called it. */
  @Test
  void aListenerThatThrowsCancelsItsRequestAndTheOthersGoOn() throws Exception {
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    CompletableFuture<Void> threw = new CompletableFuture<>();
    List<Object> afterThrow = new CopyOnWriteArrayList<>();
    GenerationListener broken =
        new GenerationListener() {
          @Override
          public void onTokens(int[] tokenIds, String text, List<TokenLogprobs> logprobs) {
            if (threw.isDone()) {
              afterThrow.add(tokenIds);
            }
            threw.complete(null);
            throw new IllegalStateException("the client's connection broke");
          }

          @Override
          public void onFinished(
              int[] tokenIds, String text, List<TokenLogprobs> logprobs, Finish finish) {
            afterThrow.add(finish);
          }

          @Override
          public void onFailed(Status status) {
            afterThrow.add(status);
          }
        };
    serving.submit(
        new GenerationRequest(
            "broken",
            new GenerationRequest.Prompt.TokenIds(p.ids()),
            GenerationRequest.Sampling.greedy(200).withStops(GenerationRequest.Stops.ignoringEos()),
            null,
            System.nanoTime(),
            System.nanoTime() + TimeUnit.MINUTES.toNanos(1)),
        broken);
    threw.get(60, TimeUnit.SECONDS);
    GenerateStream after =
        GenerateStream.start(harness.channel, ids("after-broken", p.ids(), greedy(12)));
    assertThat(after.await().getCode()).isEqualTo(Status.Code.OK);
    assertThat(after.tokens()).containsExactly(p.greedy());
    awaitIdle();
    assertThat(afterThrow).as("calls after the listener threw").isEmpty();
  }

  /**
   * Until the KV-cache metric is back at its idle value (no block used) and no sequence is left.
   */
  private void awaitIdle() throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    Scheduler.State s;
    do {
      Thread.sleep(50);
      CompletionStage<Scheduler.State> ask =
          AskPattern.ask(
              serving.scheduler(),
              Scheduler.GetState::new,
              Duration.ofSeconds(5),
              harness.router.system().scheduler());
      s = ask.toCompletableFuture().get(10, TimeUnit.SECONDS);
    } while ((s.usedBlocks() > 0 || s.running() + s.waiting() > 0) && System.nanoTime() < until);
    assertThat(s.usedBlocks()).isZero();
    assertThat(s.running() + s.waiting()).isZero();
    assertThat(registry.get("arrakis_serve_kv_blocks").tag("state", "used").gauge().value())
        .isZero();
  }
}
