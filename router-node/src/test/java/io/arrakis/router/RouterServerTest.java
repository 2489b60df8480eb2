package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import com.typesafe.config.ConfigFactory;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.ModelInfo;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.proto.v1.TokenIds;
import io.arrakis.router.admission.TokenLimiter.Settings;
import io.arrakis.router.grpc.ClusterServiceAccess;
import io.arrakis.router.grpc.RouterAccess;
import io.arrakis.security.BearerToken;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The router end to end over loopback gRPC, with experts computed in this JVM. */
class RouterServerTest {
  RouterHarness harness;
  RouterServer router;
  ManagedChannel channel;
  MoeModel model;
  Map<String, InProcessExpert> experts;

  void start(String fixture, Placement placement) throws Exception {
    start(fixture, placement, RouterHarness.settings());
  }

  void start(String fixture, Placement placement, RouterSettings settings) throws Exception {
    start(fixture, placement, settings, RouterHarness.loopback());
  }

  void start(
      String fixture, Placement placement, RouterSettings settings, NettyServerBuilder transport)
      throws Exception {
    harness = new RouterHarness(fixture, placement, settings, transport);
    router = harness.router;
    channel = harness.channel;
    model = harness.model;
    experts = harness.experts;
  }

  @AfterEach
  void stop() throws Exception {
    if (harness != null) {
      harness.close();
    }
  }

  InferenceGrpc.InferenceBlockingStub inference() {
    return InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @ParameterizedTest
  @CsvSource({
    "mixtral-tiny, contiguous, 1",
    "mixtral-tiny, round-robin, 1",
    "mixtral-tiny, round-robin, 2",
    "qwen-style-bf16, contiguous, 1",
    "qwen-style-bf16, round-robin, 2"
  })
  void forwardMatchesTheIndependentFixtures(String fixture, String strategy, int replicas)
      throws Exception {
    Path dir = Fixtures.dir(fixture);
    start(fixture, RouterHarness.placement(fixture, strategy, 3, replicas));
    float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    long[] shape = Fixtures.shape(dir.resolve("input.safetensors"), "hidden_states");
    for (int layer : model.moeLayers()) {
      Path expected = dir.resolve("expected-layer" + layer + ".safetensors");
      ForwardResponse r = inference().forward(request("fx", layer, x, shape[0], shape[1], true));
      float[] want = Fixtures.floats(expected, "output");
      assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
          .as("layer %d max |diff|", layer)
          .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(want));
      assertThat(TensorCodec.ints(r.getTopkIds()))
          .containsExactly(Fixtures.ints(expected, "topk_ids"));
      float[] wantW = Fixtures.floats(expected, "topk_weights");
      assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getTopkWeights()), wantW))
          .isLessThanOrEqualTo(1e-5f);
      assertThat(r.getRequestId()).isEqualTo("fx");
    }
  }

  /**
   * bf16 hidden states of a bf16 model stay bf16 on the wire (half the bytes) and the nodes answer
   * in bf16; the output is FLOAT32, the float32 reference on the same rows within bf16 rounding of
   * each node's partial sum.
   */
  @Test
  void bf16RowsOfABf16ModelTravelAsBf16() throws Exception {
    String fixture = "qwen-style-bf16";
    start(fixture, RouterHarness.placement(fixture, "round-robin", 3, 1));
    int d = model.config().hiddenSize();
    float[] x =
        Fixtures.floats(Fixtures.dir(fixture).resolve("input.safetensors"), "hidden_states");
    int tokens = x.length / d;
    ForwardResponse r =
        inference().forward(bf16Request("bf16", model.moeLayers().get(0), x, tokens, d));
    float[] want =
        ReferenceMoe.load(model, model.moeLayers().get(0))
            .forward(Nd4j.create(bf16Rounded(x), new long[] {tokens, d}, 'c'))
            .output()
            .data()
            .asFloat();
    assertThat(r.getOutput().getDtype()).isEqualTo(DType.FLOAT32);
    assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
        .isLessThanOrEqualTo(0x1p-7f * Fixtures.maxAbs(want));
    assertThat(
            experts.values().stream()
                .flatMap(e -> e.calls.stream())
                .map(c -> c.getHiddenStates().getDtype()))
        .isNotEmpty()
        .containsOnly(DType.BFLOAT16);
  }

  /**
   * bf16 hidden states of a float32 model go to the nodes as float32 (widened exactly): float32
   * answers.
   */
  @Test
  void bf16RowsOfAFloat32ModelAreWidenedAndAnsweredInFloat32() throws Exception {
    start(
        Fixtures.MIXTRAL_TINY, RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 3, 1));
    float[] x =
        Fixtures.floats(
            Fixtures.dir(Fixtures.MIXTRAL_TINY).resolve("input.safetensors"), "hidden_states");
    ForwardResponse r = inference().forward(bf16Request("f32", 0, x, 32, 64));
    float[] want =
        ReferenceMoe.load(model, 0)
            .forward(Nd4j.create(bf16Rounded(x), new long[] {32, 64}, 'c'))
            .output()
            .data()
            .asFloat();
    assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
        .isLessThanOrEqualTo(1e-5f * Fixtures.maxAbs(want));
    assertThat(
            experts.values().stream()
                .flatMap(e -> e.calls.stream())
                .map(c -> c.getHiddenStates().getDtype()))
        .isNotEmpty()
        .containsOnly(DType.FLOAT32);
  }

  static float[] bf16Rounded(float[] x) {
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = Bf16.round(x[i]);
    }
    return out;
  }

  static ForwardRequest bf16Request(String id, int layer, float[] x, int tokens, int d) {
    ByteBuffer b = ByteBuffer.allocate(x.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : x) {
      b.putShort(Bf16.fromFloat(v));
    }
    return ForwardRequest.newBuilder()
        .setRequestId(id)
        .setLayer(layer)
        .setHiddenStates(
            Tensor.newBuilder()
                .setDtype(DType.BFLOAT16)
                .addShape(tokens)
                .addShape(d)
                .setData(ByteString.copyFrom(b.array())))
        .build();
  }

  @Test
  void eachTokenCrossesToANodeOncePerLayer() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 3, 1);
    start(Fixtures.MIXTRAL_TINY, p);
    float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    ForwardResponse r = inference().forward(request("once", 0, x, 32, 64, true));
    int[] ids = TensorCodec.ints(r.getTopkIds());
    int expectedRows = 0;
    for (int t = 0; t < 32; t++) {
      Set<String> nodes = new HashSet<>();
      for (int j = 0; j < 2; j++) {
        nodes.addAll(p.holders(new ExpertId(0, ids[t * 2 + j])));
      }
      expectedRows += nodes.size();
    }
    long sentRows =
        experts.values().stream()
            .flatMap(e -> e.calls.stream())
            .mapToLong(c -> c.getHiddenStates().getShape(0))
            .sum();
    assertThat(sentRows).isEqualTo(expectedRows).isLessThan(32 * 2);
  }

  /**
   * The answer goes out on the thread that finishes the request. (Pekko's ask future hands plain
   * callbacks to the common pool, which on a machine of 2 cores or fewer starts a thread per task:
   * a thread per call, most of what the router added to a small call's latency.)
   */
  @Test
  void aForwardCallStartsNoThread() throws Exception {
    start(
        Fixtures.MIXTRAL_TINY, RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 3, 1));
    float[] x = new float[4 * 64];
    Arrays.fill(x, 0.5f);
    for (int i = 0; i < 50; i++) { // warm-up: pools and channels start their threads
      inference().forward(request("warm-" + i, 0, x, 4, 64, false));
    }
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long before = threads.getTotalStartedThreadCount();
    for (int i = 0; i < 200; i++) {
      inference().forward(request("call-" + i, 0, x, 4, 64, false));
    }
    assertThat(threads.getTotalStartedThreadCount() - before)
        .as("threads started by 200 calls")
        .isLessThan(10);
  }

  @Test
  void concurrentClientsGetExactlyTheirOwnRows() throws Exception {
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 3, 2);
    start(Fixtures.MIXTRAL_TINY, p);
    ReferenceMoe reference = ReferenceMoe.load(model, 1);
    var stub = InferenceGrpc.newFutureStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    List<float[]> inputs = new ArrayList<>();
    List<ListenableFuture<ForwardResponse>> calls = new ArrayList<>();
    for (int c = 0; c < 64; c++) {
      int tokens = 1 + (c * 7) % 64;
      float[] x = new float[tokens * 64];
      Random rnd = new Random(c);
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      inputs.add(x);
      calls.add(stub.forward(request("client-" + c, 1, x, tokens, 64, false)));
    }
    for (int c = 0; c < 64; c++) {
      ForwardResponse r = calls.get(c).get(60, TimeUnit.SECONDS);
      assertThat(r.getRequestId()).isEqualTo("client-" + c);
      float[] x = inputs.get(c);
      INDArray want =
          reference.forward(Nd4j.create(x, new long[] {x.length / 64, 64}, 'c')).output();
      float[] wantF = want.data().asFloat();
      assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), wantF))
          .as("client %d", c)
          .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(wantF));
    }
    // concurrent requests were merged: fewer calls than slices
    long calls3 = experts.values().stream().mapToLong(e -> e.calls.size()).sum();
    assertThat(calls3).isLessThan(64L * 3);
  }

  @Test
  void badRequestsAreRefusedNamingTheFieldAndTheRouterServesOnAfterwards() throws Exception {
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 2, 1);
    start(Fixtures.MIXTRAL_TINY, p);
    float[] x = new float[2 * 64];
    ForwardRequest good = request("ok", 0, x, 2, 64, false);
    expectStatus(
        good.toBuilder().setLayer(7).build(),
        Status.Code.INVALID_ARGUMENT,
        "layer 7 is not an MoE layer");
    expectStatus(
        request("d", 0, new float[2 * 63], 2, 63, false),
        Status.Code.INVALID_ARGUMENT,
        "hidden_states");
    expectStatus(
        with(good, t -> t.setDtype(DType.INT32)), Status.Code.INVALID_ARGUMENT, "hidden_states");
    expectStatus(
        with(good, t -> t.setData(ByteString.copyFrom(new byte[7]))),
        Status.Code.INVALID_ARGUMENT,
        "hidden_states.data");
    expectStatus(
        with(good, t -> t.clearShape().addShape(2)), Status.Code.INVALID_ARGUMENT, "hidden_states");
    float[] nan = new float[2 * 64];
    nan[5] = Float.NaN;
    expectStatus(request("nan", 0, nan, 2, 64, false), Status.Code.INVALID_ARGUMENT, "NaN");
    // float32 rows of more tokens than allowed do not even fit the router's message limit, sized
    // from max-request-tokens
    expectStatus(
        request("big", 0, new float[5000 * 64], 5000, 64, false),
        Status.Code.RESOURCE_EXHAUSTED,
        "exceeds maximum size");
    // bf16 rows take half the bytes: the message fits, the token limit refuses it
    expectStatus(
        with(
            good,
            t ->
                t.setDtype(DType.BFLOAT16)
                    .setShape(0, 5000)
                    .setData(ByteString.copyFrom(new byte[5000 * 64 * 2]))),
        Status.Code.RESOURCE_EXHAUSTED,
        "5000 tokens");
    assertThat(inference().forward(good).getOutput().getShapeList()).containsExactly(2L, 64L);
  }

  @Test
  void aFailingNodeFailsTheRequestsThatNeedItWithUnavailableNamingIt() throws Exception {
    float[] x = startWarm("contiguous", 2, 1);
    experts.get("expert-1").down = true;
    expectStatus(
        request("down", 0, x, 32, 64, false), Status.Code.UNAVAILABLE, "expert node expert-1");
  }

  @Test
  void withReplicasANodeFailureIsRetriedElsewhereAndTheAnswerStaysCorrect() throws Exception {
    float[] x = startWarm("round-robin", 3, 2);
    experts.get("expert-1").down = true;
    assertFiveCallsMatchTheFixture(x);
  }

  /**
   * A node killed mid-call does not always fail the call with UNAVAILABLE (a stream cut after its
   * headers can end UNKNOWN or INTERNAL); expert compute is a pure function, so any failure that is
   * not about the request itself is retried once elsewhere.
   */
  @ParameterizedTest
  @EnumSource(
      value = Status.Code.class,
      names = {"UNKNOWN", "INTERNAL", "CANCELLED", "ABORTED", "DATA_LOSS"})
  void withReplicasACallBrokenOnANodeIsRetriedElsewhere(Status.Code code) throws Exception {
    float[] x = startWarm("round-robin", 3, 2);
    experts.get("expert-1").breaksCallsWith = Status.fromCode(code).withDescription("stream cut");
    assertFiveCallsMatchTheFixture(x);
    assertThat(experts.get("expert-1").calls).as("calls that reached the broken node").isNotEmpty();
  }

  /**
   * With one replica per expert (the default) a single failed call takes the node out of rotation;
   * until its next health check (here a minute away) the planner must still try it, since it is the
   * best replica there is, rather than fail every request that needs it.
   */
  @Test
  void whenNoReplicaIsInRotationTheBestOneIsTriedAnyway() throws Exception {
    RouterSettings s = RouterHarness.settings();
    var l = s.nodeLimits();
    start(
        Fixtures.MIXTRAL_TINY,
        RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 2, 1),
        s.withNodeLimits(l.withHealthInterval(Duration.ofMinutes(1))));
    float[] x =
        Fixtures.floats(
            Fixtures.dir(Fixtures.MIXTRAL_TINY).resolve("input.safetensors"), "hidden_states");
    inference().forward(request("warm", 0, x, 32, 64, false));
    experts.get("expert-1").failNext.set(1);
    // the blip fails the call that met it (its one replica failed, and a retry never goes back
    // there)
    expectStatus(
        request("blip", 0, x, 32, 64, false), Status.Code.UNAVAILABLE, "expert node expert-1");
    assertFiveCallsMatchTheFixture(x);
  }

  /**
   * A node that refuses the request's content would refuse it anywhere: no retry, the client gets
   * the status.
   */
  @Test
  void aSliceRefusedAsInvalidIsNotRetried() throws Exception {
    float[] x = startWarm("round-robin", 3, 2);
    experts.get("expert-1").breaksCallsWith =
        Status.INVALID_ARGUMENT.withDescription("hidden_states has NaN");
    // a retry elsewhere would make every call succeed: one that needs expert-1 must fail instead
    List<StatusRuntimeException> refused = new ArrayList<>();
    for (int i = 0; i < 10 && refused.isEmpty(); i++) {
      try {
        inference().forward(request("bad" + i, 0, x, 32, 64, false));
      } catch (StatusRuntimeException e) {
        refused.add(e);
      }
    }
    assertThat(refused)
        .as("calls refused by expert-1")
        .singleElement()
        .satisfies(
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains("expert node expert-1");
            });
  }

  @Test
  void pastTheAdmissionLimitCallsAreRefusedAtOnceWithResourceExhausted() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 1, 1);
    start(
        Fixtures.MIXTRAL_TINY,
        p,
        RouterSettings.from(ConfigFactory.load())
            .withDrainDelay(Duration.ZERO)
            .withAdmission(Settings.fixed(40)));
    float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    CountDownLatch busy = new CountDownLatch(1);
    experts.get("expert-0").hold = busy;
    var admitted =
        InferenceGrpc.newFutureStub(channel)
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .forward(request("first", 0, x, 32, 64, false));
    Thread.sleep(200);
    long start = System.nanoTime();
    expectStatus(
        request("second", 0, x, 32, 64, false),
        Status.Code.RESOURCE_EXHAUSTED,
        "router is at capacity");
    long refusedMillis = (System.nanoTime() - start) / 1_000_000;
    assertThat(refusedMillis)
        .as("refusal time (ms)")
        .isLessThan(1000); // a generous bound: no queueing
    busy.countDown();
    assertThat(admitted.get(30, TimeUnit.SECONDS).getRequestId()).isEqualTo("first");
    experts.get("expert-0").hold = null;
    assertThat(inference().forward(request("third", 0, x, 32, 64, false)).getRequestId())
        .isEqualTo("third");
  }

  /** A layer-only model serves Forward (every other test here) and refuses Generate, saying why. */
  @Test
  void aLayerOnlyModelRefusesGenerateNamingWhatItNeeds() throws Exception {
    start(
        Fixtures.MIXTRAL_TINY, RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 1, 1));
    GenerateStream g =
        GenerateStream.start(
            channel,
            GenerateRequest.newBuilder()
                .setRequestId("g")
                .setTokenIds(TokenIds.newBuilder().addIds(1))
                .build());
    Status status = g.await();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNIMPLEMENTED);
    assertThat(status.getDescription()).contains("layer-only", "whole-model checkpoint");
    assertThat(g.messages).isEmpty();
    assertThat(inference().forward(request("after", 0, new float[64], 1, 64, false)).getRequestId())
        .isEqualTo("after");
  }

  @Test
  void withABearerTokenConfiguredCallsWithoutItAreUnauthenticated() throws Exception {
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 1, 1);
    start(
        Fixtures.MIXTRAL_TINY,
        p,
        RouterSettings.from(ConfigFactory.load()).withDrainDelay(Duration.ZERO),
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .intercept(RouterAccess.policy("tok-123", null, false)));
    ForwardRequest req = request("auth", 0, new float[64], 1, 64, false);
    expectStatus(req, Status.Code.UNAUTHENTICATED, "missing");
    assertThatThrownBy(() -> inference().withCallCredentials(new BearerToken("wrong")).forward(req))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    assertThat(
            inference().withCallCredentials(new BearerToken("tok-123")).forward(req).getRequestId())
        .isEqualTo("auth");
    assertThat(
            HealthGrpc.newBlockingStub(channel)
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus())
        .isEqualTo(ServingStatus.SERVING);
  }

  @Test
  void fivePlacementChangesUnderLoadFailNoRequestAndKeepAnswersCorrect() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    start(
        Fixtures.MIXTRAL_TINY, RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 3, 1));
    float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    float[] want = Fixtures.floats(dir.resolve("expected-layer0.safetensors"), "output");
    AtomicInteger ok = new AtomicInteger();
    ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    AtomicBoolean running = new AtomicBoolean(true);
    List<Thread> clients = new ArrayList<>();
    for (int c = 0; c < 4; c++) {
      Thread t =
          new Thread(
              () -> {
                while (running.get()) {
                  try {
                    ForwardResponse r = inference().forward(request("load", 0, x, 32, 64, false));
                    if (Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want)
                        > 1e-4f * Fixtures.maxAbs(want)) {
                      failures.add("wrong output");
                    }
                    ok.incrementAndGet();
                  } catch (StatusRuntimeException e) {
                    failures.add(e.getStatus().toString());
                  }
                }
              });
      t.start();
      clients.add(t);
    }
    var cluster = ClusterGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    String[][] rollouts = {
      {"round-robin", "1"},
      {"round-robin", "2"},
      {"contiguous", "2"},
      {"round-robin", "3"},
      {"contiguous", "1"}
    };
    Placement last = null;
    for (int v = 0; v < rollouts.length; v++) {
      Thread.sleep(150);
      Placement base =
          RouterHarness.placement(
              Fixtures.MIXTRAL_TINY, rollouts[v][0], 3, Integer.parseInt(rollouts[v][1]));
      last = new Placement(v + 2, base.nodes());
      var applied = cluster.setPlacement(ClusterServiceAccess.toProto(last));
      assertThat(applied.getVersion()).isEqualTo(v + 2);
    }
    Thread.sleep(300);
    running.set(false);
    for (Thread t : clients) {
      t.join(30_000);
    }
    assertThat(failures).isEmpty();
    assertThat(ok.get()).isGreaterThan(20);
    assertThat(cluster.getPlacement(GetPlacementRequest.getDefaultInstance()).getVersion())
        .isEqualTo(6);
    // once the old placements' requests are done, each node holds exactly what the last placement
    // says
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    for (Placement.Node n : last.nodes()) {
      while (!experts.get(n.id()).held.equals(new HashSet<>(n.experts()))
          && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(experts.get(n.id()).held).containsExactlyInAnyOrderElementsOf(n.experts());
    }
  }

  @Test
  void anOlderPlacementVersionIsRefused() throws Exception {
    start(
        Fixtures.MIXTRAL_TINY, RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 2, 1));
    var cluster = ClusterGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    var same = cluster.getPlacement(GetPlacementRequest.getDefaultInstance());
    assertThatThrownBy(() -> cluster.setPlacement(same))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
              assertThat(e.getStatus().getDescription()).contains("not newer");
            });
  }

  @Test
  void adminCallsReportModelPlacementLoadAndHealth() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 2, 1);
    start(Fixtures.MIXTRAL_TINY, p);
    ModelInfo info = inference().getModel(GetModelRequest.getDefaultInstance());
    assertThat(info.getHiddenSize()).isEqualTo(64);
    assertThat(info.getTopK()).isEqualTo(2);
    assertThat(info.getMoeLayersList()).containsExactly(0, 1);
    var cluster = ClusterGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    assertThat(cluster.getPlacement(GetPlacementRequest.getDefaultInstance()).getNodesCount())
        .isEqualTo(2);

    float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    inference().forward(request("a", 0, x, 32, 64, false));
    inference().forward(request("b", 1, x, 32, 64, false));
    LoadStats stats = cluster.getLoadStats(GetLoadStatsRequest.getDefaultInstance());
    assertThat(stats.getExpertsList().stream().mapToLong(e -> e.getTokens()).sum())
        .isEqualTo(2 * 32 * 2);
    long nodeTokens = stats.getNodesList().stream().mapToLong(n -> n.getTokens()).sum();
    long pairs =
        experts.values().stream()
            .flatMap(e -> e.calls.stream())
            .flatMap(c -> c.getAssignmentsList().stream())
            .mapToLong(a -> a.getRowsCount())
            .sum();
    assertThat(nodeTokens)
        .as("node load counts token-expert pairs")
        .isEqualTo(pairs)
        .isEqualTo(2 * 32 * 2);

    assertThat(
            HealthGrpc.newBlockingStub(channel)
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus())
        .isEqualTo(ServingStatus.SERVING);
  }

  @Test
  void setPlacementRefusesOneThatLeavesAnExpertOut() throws Exception {
    Placement p = RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 2, 1);
    start(Fixtures.MIXTRAL_TINY, p);
    var cluster = ClusterGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    var current = cluster.getPlacement(GetPlacementRequest.getDefaultInstance());
    var missing =
        current.toBuilder()
            .setVersion(2)
            .setNodes(
                1,
                current.getNodes(1).toBuilder()
                    .clearExperts()
                    .addAllExperts(
                        current
                            .getNodes(1)
                            .getExpertsList()
                            .subList(1, current.getNodes(1).getExpertsCount())))
            .build();
    assertThatThrownBy(() -> cluster.setPlacement(missing))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains("no node holds expert 0:1");
            });
  }

  /**
   * Router on mixtral-tiny with a placement of {@code strategy}, after one call; the fixture's
   * input.
   */
  private float[] startWarm(String strategy, int nodes, int replicas) throws Exception {
    start(
        Fixtures.MIXTRAL_TINY,
        RouterHarness.placement(Fixtures.MIXTRAL_TINY, strategy, nodes, replicas));
    float[] x =
        Fixtures.floats(
            Fixtures.dir(Fixtures.MIXTRAL_TINY).resolve("input.safetensors"), "hidden_states");
    inference().forward(request("warm", 0, x, 32, 64, false));
    return x;
  }

  /**
   * Five calls of the fixture's input to layer 0, each within 1e-4 of the fixture's largest output.
   */
  private void assertFiveCallsMatchTheFixture(float[] x) throws Exception {
    float[] want =
        Fixtures.floats(
            Fixtures.dir(Fixtures.MIXTRAL_TINY).resolve("expected-layer0.safetensors"), "output");
    for (int i = 0; i < 5; i++) {
      ForwardResponse r = inference().forward(request("r" + i, 0, x, 32, 64, false));
      assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
          .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(want));
    }
  }

  void expectStatus(ForwardRequest req, Status.Code code, String message) {
    assertThatThrownBy(() -> inference().forward(req))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(message);
            });
  }

  static ForwardRequest with(ForwardRequest r, UnaryOperator<Tensor.Builder> change) {
    return r.toBuilder().setHiddenStates(change.apply(r.getHiddenStates().toBuilder())).build();
  }

  static ForwardRequest request(
      String id, int layer, float[] x, long tokens, long d, boolean routing) {
    return ForwardRequest.newBuilder()
        .setRequestId(id)
        .setLayer(layer)
        .setReturnRouting(routing)
        .setHiddenStates(TensorCodec.encodeFloat(x, tokens, d))
        .build();
  }
}
