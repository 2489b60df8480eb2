package io.arrakis.loadtest.load;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.loadtest.report.JsonReport;
import io.arrakis.loadtest.report.TextReport;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.ModelInfo;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The open loop against a fake router in process: the offered rate holds whatever the router does,
 * every call is accounted for, and a stalled router shows in the latency (measured from the
 * scheduled time) rather than in a lower send rate.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OpenLoopDriverTest {
  private static final int HIDDEN = 4;

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final AtomicLong received = new AtomicLong();
  private volatile long delayMillis;
  private Server server;
  private ManagedChannel channel;

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).addService(new FakeRouter()).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    timer.shutdownNow();
  }

  @Test
  void everyCallIsAccountedForAndTheRateHolds() throws Exception {
    LoadOptions o =
        LoadOptions.of("in-process:0", Duration.ofMillis(2000), 1, TokenCounts.parse("uniform:1-4"))
            .withDeadline(Duration.ofMillis(300));
    LoadResult r = new OpenLoopDriver(o, 200, null).run(channel, Progress.Listener.NONE);

    assertThat(r.mode()).isEqualTo("open");
    assertThat(r.sent()).isEqualTo(received.get());
    // Poisson with mean 400 over 2 s: a standard deviation of 20
    assertThat(r.sent()).isBetween(300L, 500L);
    assertThat(r.unanswered()).isZero();
    assertThat(r.sent()).isEqualTo(r.ok() + r.failed());
    assertThat(r.byStatus()).containsKeys("OK", "UNAVAILABLE");
    assertThat(r.byStatus().values().stream().mapToLong(Long::longValue).sum()).isEqualTo(r.sent());
    assertThat(r.latencyMicros().getTotalCount()).isEqualTo(r.ok());
    assertThat(JsonReport.toJson(r).path("rate_per_s").asDouble()).isEqualTo(200);
    assertThat(TextReport.render(r))
        .contains("open loop, 200.0 requests/s offered (Poisson)", "unanswered 0");
  }

  @Test
  void aSlowRouterShowsInLatencyNotInALowerRate() throws Exception {
    delayMillis = 150;
    LoadOptions o =
        LoadOptions.of("in-process:0", Duration.ofMillis(1000), 1, TokenCounts.fixed(2))
            .withDeadline(Duration.ofSeconds(2));
    LoadResult r = new OpenLoopDriver(o, 100, null).run(channel, Progress.Listener.NONE);
    // a closed loop with one caller would send about 7 calls; the open loop keeps sending
    assertThat(r.sent()).isGreaterThan(50);
    assertThat(r.unanswered()).isZero();
    assertThat(r.latencyMillis(50)).isGreaterThanOrEqualTo(150);
  }

  @Test
  void tokenDistributions() {
    assertThat(TokenCounts.parse("uniform:1-64")).isEqualTo(new TokenCounts(1, 64));
    assertThat(TokenCounts.parse("fixed:16")).isEqualTo(TokenCounts.fixed(16));
    assertThatThrownBy(() -> TokenCounts.parse("zipf:1-4"))
        .hasMessageContaining("fixed:T or uniform:MIN-MAX");
    assertThatThrownBy(() -> TokenCounts.parse("fixed:1-4"))
        .hasMessageContaining("fixed:T or uniform:MIN-MAX");
    assertThatThrownBy(
            () ->
                new OpenLoopDriver(
                    LoadOptions.of("h:1", Duration.ofSeconds(1), 1, TokenCounts.fixed(1)), 0, null))
        .hasMessageContaining("rate must be a positive");
  }

  /** Every 7th call UNAVAILABLE, the rest answered after {@code delayMillis}. */
  private final class FakeRouter extends InferenceGrpc.InferenceImplBase {
    @Override
    public void getModel(GetModelRequest request, StreamObserver<ModelInfo> out) {
      out.onNext(
          ModelInfo.newBuilder()
              .setHiddenSize(HIDDEN)
              .addMoeLayers(0)
              .setTopK(1)
              .setNumExperts(2)
              .build());
      out.onCompleted();
    }

    @Override
    public void forward(ForwardRequest request, StreamObserver<ForwardResponse> out) {
      long n = received.incrementAndGet();
      if (n % 7 == 3) {
        out.onError(Status.UNAVAILABLE.withDescription("node down").asRuntimeException());
        return;
      }
      int tokens = (int) request.getHiddenStates().getShape(0);
      ForwardResponse ok =
          ForwardResponse.newBuilder()
              .setRequestId(request.getRequestId())
              .setOutput(TensorCodec.encodeFloat(new float[tokens * HIDDEN], tokens, HIDDEN))
              .build();
      Runnable answer =
          () -> {
            out.onNext(ok);
            out.onCompleted();
          };
      if (delayMillis == 0) {
        answer.run();
      } else {
        timer.schedule(answer, delayMillis, TimeUnit.MILLISECONDS);
      }
    }
  }
}
