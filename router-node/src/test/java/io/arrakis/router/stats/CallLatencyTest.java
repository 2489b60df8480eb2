package io.arrakis.router.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.telemetry.testing.Scrape;
import io.grpc.CallOptions;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.MockClock;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Calls over loopback gRPC to a server with {@link CallLatency} registered, whose handlers run on
 * the transport thread as the router's do. The service moves the registry's mock clock while it
 * handles a call, so each call's measured time is known exactly.
 */
class CallLatencyTest {
  private static final String CHECK = "grpc.health.v1.Health/Check";

  private final MockClock clock = new MockClock();
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT, new PrometheusRegistry(), clock);

  /** How far the clock moves after a status is handed to the transport, while it is written. */
  private volatile Duration writingTheStatus = Duration.ZERO;

  private Server server;
  private ManagedChannel channel;

  /**
   * Health checks that take 7 ms and answer SERVING, or for service "busy" take 3 ms and are
   * refused.
   */
  private final class TimedHealth extends HealthGrpc.HealthImplBase {
    @Override
    public void check(HealthCheckRequest request, StreamObserver<HealthCheckResponse> out) {
      if (request.getService().equals("busy")) {
        clock.add(Duration.ofMillis(3));
        out.onError(Status.RESOURCE_EXHAUSTED.withDescription("busy").asRuntimeException());
        return;
      }
      clock.add(Duration.ofMillis(7));
      out.onNext(
          HealthCheckResponse.newBuilder()
              .setStatus(HealthCheckResponse.ServingStatus.SERVING)
              .build());
      out.onCompleted();
    }
  }

  /**
   * Moves the clock by {@link #writingTheStatus} once a call's status is handed over: on the
   * transport thread, before the transport has written it.
   */
  private final class SlowStatusWrites implements ServerInterceptor {
    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
        ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
      return next.startCall(
          new SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
              super.close(status, trailers);
              clock.add(writingTheStatus);
            }
          },
          headers);
    }
  }

  @BeforeEach
  void start() throws Exception {
    ServerServiceDefinition health =
        ServerInterceptors.intercept(new TimedHealth().bindService(), new SlowStatusWrites());
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .directExecutor()
            .addService(health);
    new CallLatency(registry, List.of(health)).register(builder);
    server = builder.build().start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private HealthGrpc.HealthBlockingStub health() {
    return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  @Test
  void aRefusedCallIsTimedUnderItsStatusAndAnAnsweredOneUnderOk() throws Exception {
    assertThatThrownBy(
            () -> health().check(HealthCheckRequest.newBuilder().setService("busy").build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
    health().check(HealthCheckRequest.getDefaultInstance());
    health().check(HealthCheckRequest.getDefaultInstance());

    Timer refused = awaitCalls(CHECK, "RESOURCE_EXHAUSTED", 1);
    assertThat(refused.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(TimeUnit.MILLISECONDS.toNanos(3));
    Timer ok = awaitCalls(CHECK, "OK", 2);
    assertThat(ok.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(TimeUnit.MILLISECONDS.toNanos(14));
  }

  @Test
  void aCallEndsWhenItsStatusIsHandedOverNotWhenTheTransportHasWrittenIt() throws Exception {
    writingTheStatus = Duration.ofMillis(5);
    assertThatThrownBy(
            () -> health().check(HealthCheckRequest.newBuilder().setService("busy").build()))
        .isInstanceOf(StatusRuntimeException.class);
    health().check(HealthCheckRequest.getDefaultInstance());

    assertThat(awaitCalls(CHECK, "RESOURCE_EXHAUSTED", 1).totalTime(TimeUnit.MILLISECONDS))
        .isEqualTo(3);
    assertThat(awaitCalls(CHECK, "OK", 1).totalTime(TimeUnit.MILLISECONDS)).isEqualTo(7);
  }

  @Test
  void prometheusShowsBucketsFromATenthOfAMillisecondWithOneAtTheFiftyMillisecondPromise()
      throws Exception {
    assertThatThrownBy(
            () -> health().check(HealthCheckRequest.newBuilder().setService("busy").build()))
        .isInstanceOf(StatusRuntimeException.class);
    awaitCalls(CHECK, "RESOURCE_EXHAUSTED", 1);

    Scrape.Histogram h =
        Scrape.parse(registry.scrape())
            .histogram(
                CallLatency.METER + "_seconds", "method", CHECK, "status", "RESOURCE_EXHAUSTED");
    assertThat(h.count()).isEqualTo(1);
    assertThat(h.buckets().firstKey()).as("smallest bucket (s)").isLessThanOrEqualTo(0.0001);
    assertThat(h.buckets()).containsEntry(0.05, 1.0);
    assertThat(h.buckets().headMap(0.003).values()).as("buckets below 3 ms").containsOnly(0.0);
    assertThat(h.buckets().ceilingEntry(0.003).getValue())
        .as("the bucket holding 3 ms")
        .isEqualTo(1.0);
    assertThat(h.quantile(0.99))
        .isBetween(h.buckets().lowerKey(0.003), h.buckets().ceilingKey(0.003));
    assertThat(h.shareAtMost(0.05)).isEqualTo(1.0);
  }

  @Test
  void callsToMethodsTheServerLacksCountUnderOneUnknownMethod() throws Exception {
    for (String name : List.of("grpc.health.v1.Health/Nope", "made.up.Service/Anything")) {
      MethodDescriptor<HealthCheckRequest, HealthCheckResponse> method =
          HealthGrpc.getCheckMethod().toBuilder().setFullMethodName(name).build();
      assertThatThrownBy(
              () ->
                  ClientCalls.blockingUnaryCall(
                      channel,
                      method,
                      CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS),
                      HealthCheckRequest.getDefaultInstance()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED));
    }
    awaitCalls(CallLatency.UNKNOWN_METHOD, "UNIMPLEMENTED", 2);
    assertThat(registry.find(CallLatency.METER).timers())
        .as("one series, whatever names clients send")
        .hasSize(1);
  }

  /**
   * The timer of {@code method} and {@code status} once it has counted {@code calls}: the server
   * closes its stream (and records) just after the client has its answer.
   */
  private Timer awaitCalls(String method, String status, long calls) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (true) {
      Timer t = registry.find(CallLatency.METER).tags("method", method, "status", status).timer();
      if ((t != null && t.count() >= calls) || System.nanoTime() > deadline) {
        assertThat(t).as("timer of %s %s", method, status).isNotNull();
        assertThat(t.count()).as("calls of %s %s", method, status).isEqualTo(calls);
        return t;
      }
      Thread.sleep(10);
    }
  }
}
