package io.arrakis.loadtest.load;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.loadtest.report.JsonReport;
import io.arrakis.loadtest.report.TextReport;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ExpertLoad;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.ModelInfo;
import io.arrakis.proto.v1.NodeLoad;
import io.arrakis.proto.v1.Placement;
import io.arrakis.proto.v1.PlacementNode;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The driver against a fake router in process: answers, errors and calls that outlive their
 * deadline must all be counted, each exactly once.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClosedLoopDriverTest {
  private static final int HIDDEN = 4;

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final FakeRouter router = new FakeRouter();
  private Server server;
  private ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .addService(router)
            .addService(new FakeCluster())
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    timer.shutdownNow();
  }

  @Test
  void everyCallIsAccountedFor() throws Exception {
    LoadOptions o =
        LoadOptions.of("in-process:0", Duration.ofMillis(1500), 8, TokenCounts.parse("1-4"))
            .withDeadline(Duration.ofMillis(300));
    LoadResult r = new ClosedLoopDriver(o, null).run(channel, Progress.Listener.NONE);

    assertThat(r.sent()).isEqualTo(router.received.get()).isGreaterThan(20);
    assertThat(r.unanswered()).isZero();
    assertThat(r.sent()).isEqualTo(r.ok() + r.failed());
    assertThat(r.byStatus().values().stream().mapToLong(Long::longValue).sum()).isEqualTo(r.sent());
    assertThat(r.byStatus())
        .containsKeys("OK", "UNAVAILABLE", "DEADLINE_EXCEEDED", CallIssuer.BAD_RESPONSE);
    assertThat(r.latencyMicros().getTotalCount()).isEqualTo(r.ok());
    assertThat(r.tokensOk()).isBetween(r.ok(), 4 * r.ok());
    assertThat(r.layers()).containsExactly(0, 2);
    assertThat(router.layers.keySet()).containsExactlyInAnyOrder(0, 2);
    assertThat(r.load().nodeTokens())
        .containsExactly(
            Assertions.entry("n0", 30L), Assertions.entry("n1", 10L), Assertions.entry("idle", 0L));
    assertThat(r.load().imbalance()).isEqualTo(30 / (40 / 3.0));
    assertThat(r.load().expertTokens()).containsEntry(new ExpertId(2, 1), 7L);
    assertThat(r.timeline()).isNotEmpty();
    assertThat(r.timeline().stream().mapToLong(TimelinePoint::ok).sum()).isEqualTo(r.ok());

    JsonNode json = new ObjectMapper().readTree(JsonReport.write(r));
    for (String field :
        List.of(
            "sent",
            "ok",
            "failed",
            "unanswered",
            "by_status",
            "tokens_per_s",
            "requests_per_s",
            "latency_ms",
            "node_load",
            "imbalance")) {
      assertThat(json.has(field)).as(field).isTrue();
    }
    assertThat(json.path("latency_ms").fieldNames())
        .toIterable()
        .containsExactly("p50", "p90", "p99", "p999", "max");
    assertThat(json.path("expert_load").path("2").get(1).asLong()).isEqualTo(7);
    assertThat(TextReport.render(r)).contains("unanswered 0", "UNAVAILABLE", "imbalance   2.25");
  }

  @Test
  void skewedInputsFollowTheBias() throws Exception {
    float[] bias = {100, 0, 0, 0};
    LoadOptions o = LoadOptions.of("in-process:0", Duration.ofMillis(300), 2, TokenCounts.fixed(2));
    LoadResult r = new ClosedLoopDriver(o, bias).run(channel, Progress.Listener.NONE);
    assertThat(r.skewedInputs()).isTrue();
    assertThat(router.firstColumnMean()).isGreaterThan(90);
  }

  @Test
  void aRouterThatFailsEverythingAtOnceIsNotHammered() throws Exception {
    router.failAll = true;
    LoadOptions o = LoadOptions.of("in-process:0", Duration.ofMillis(500), 4, TokenCounts.fixed(1));
    LoadResult r = new ClosedLoopDriver(o, null).run(channel, Progress.Listener.NONE);
    assertThat(r.ok()).isZero();
    assertThat(r.failed()).isEqualTo(r.sent());
    // each caller pauses 20 ms after a failure: about 4 x 25 calls, not a busy loop's many
    // thousands
    assertThat(r.sent()).isBetween(4L, 200L);
  }

  /**
   * Answers by request number: most OK, some UNAVAILABLE, some too late, some with a wrong shape.
   */
  private final class FakeRouter extends InferenceGrpc.InferenceImplBase {
    final AtomicLong received = new AtomicLong();
    volatile boolean failAll;
    final ConcurrentHashMap<Integer, Boolean> layers = new ConcurrentHashMap<>();
    private final AtomicLong firstColumnSum = new AtomicLong();
    private final AtomicLong rows = new AtomicLong();

    @Override
    public void getModel(GetModelRequest request, StreamObserver<ModelInfo> out) {
      out.onNext(
          ModelInfo.newBuilder()
              .setHiddenSize(HIDDEN)
              .addMoeLayers(0)
              .addMoeLayers(2)
              .setTopK(2)
              .setNumExperts(4)
              .build());
      out.onCompleted();
    }

    @Override
    public void forward(ForwardRequest request, StreamObserver<ForwardResponse> out) {
      long n = received.incrementAndGet();
      layers.put(request.getLayer(), true);
      float[] x = TensorCodec.floats(request.getHiddenStates());
      int tokens = (int) request.getHiddenStates().getShape(0);
      for (int t = 0; t < tokens; t++) {
        firstColumnSum.addAndGet(Math.round(x[t * HIDDEN]));
        rows.incrementAndGet();
      }
      ForwardResponse ok =
          ForwardResponse.newBuilder()
              .setRequestId(request.getRequestId())
              .setOutput(TensorCodec.encodeFloat(new float[tokens * HIDDEN], tokens, HIDDEN))
              .build();
      if (failAll || n % 10 == 3) {
        out.onError(Status.UNAVAILABLE.withDescription("node down").asRuntimeException());
      } else if (n % 10 == 5) {
        // answers after the 300 ms deadline: the client must count DEADLINE_EXCEEDED, once
        timer.schedule(
            () -> {
              out.onNext(ok);
              out.onCompleted();
            },
            600,
            TimeUnit.MILLISECONDS);
      } else if (n % 10 == 7) {
        out.onNext(
            ok.toBuilder()
                .setOutput(TensorCodec.encodeFloat(new float[HIDDEN], 1, HIDDEN))
                .setRequestId("other")
                .build());
        out.onCompleted();
      } else {
        timer.schedule(
            () -> {
              out.onNext(ok);
              out.onCompleted();
            },
            5,
            TimeUnit.MILLISECONDS);
      }
    }

    double firstColumnMean() {
      return (double) firstColumnSum.get() / rows.get();
    }
  }

  private static final class FakeCluster extends ClusterGrpc.ClusterImplBase {
    @Override
    public void getPlacement(GetPlacementRequest request, StreamObserver<Placement> out) {
      out.onNext(
          Placement.newBuilder()
              .setVersion(1)
              .addNodes(PlacementNode.newBuilder().setId("n0"))
              .addNodes(PlacementNode.newBuilder().setId("n1"))
              .addNodes(PlacementNode.newBuilder().setId("idle"))
              .build());
      out.onCompleted();
    }

    @Override
    public void getLoadStats(GetLoadStatsRequest request, StreamObserver<LoadStats> out) {
      out.onNext(
          LoadStats.newBuilder()
              .addNodes(NodeLoad.newBuilder().setNodeId("n0").setTokens(30).setBatches(3))
              .addNodes(NodeLoad.newBuilder().setNodeId("n1").setTokens(10).setBatches(1))
              .addExperts(
                  ExpertLoad.newBuilder().setExpert(new ExpertId(2, 1).toProto()).setTokens(7))
              .build());
      out.onCompleted();
    }
  }
}
