package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.security.testing.SilentCalls;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Calls over loopback gRPC to a server watched by {@link RequestArrival}: clients that open calls
 * and never send their request (the headers only), beside clients that do.
 */
class RequestArrivalTest {
  private static final Duration TIMEOUT = Duration.ofMillis(500);

  private final AtomicInteger handled = new AtomicInteger();
  private RequestArrival arrival;
  private Server server;
  private ManagedChannel channel;

  private void start(int maxCalls) throws Exception {
    arrival = new RequestArrival(new RequestArrival.Settings(maxCalls, TIMEOUT, "test"));
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
            .directExecutor()
            .addService(
                new HealthGrpc.HealthImplBase() {
                  @Override
                  public void check(
                      HealthCheckRequest request, StreamObserver<HealthCheckResponse> out) {
                    handled.incrementAndGet();
                    out.onNext(HealthCheckResponse.getDefaultInstance());
                    out.onCompleted();
                  }
                });
    arrival.register(builder);
    server = builder.build().start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    arrival.close();
  }

  private CompletableFuture<Status> headersOnly() {
    return SilentCalls.headersOnly(channel, HealthGrpc.getCheckMethod());
  }

  private HealthCheckResponse check() {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
  }

  @Test
  void aRequestThatNeverArrivesEndsItsCallAfterTheTimeoutWithoutReachingTheService()
      throws Exception {
    start(8);
    long t0 = System.nanoTime();
    Status status = headersOnly().get(10, TimeUnit.SECONDS);
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);

    assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(status.getDescription())
        .contains("did not arrive within 500 ms", "test.request-timeout");
    assertThat(ms).as("ms until the call ended").isBetween(TIMEOUT.toMillis(), 9_000L);
    assertThat(handled).as("calls the service handled").hasValue(0);
  }

  @Test
  void pastTheLimitOfWaitingCallsANewOneIsRefusedAtOnceAndTheirPlacesComeBack() throws Exception {
    start(2);
    CompletableFuture<Status> first = headersOnly();
    CompletableFuture<Status> second = headersOnly();
    Thread.sleep(100); // both have reached the server

    Status third = headersOnly().get(TIMEOUT.toMillis() / 2, TimeUnit.MILLISECONDS);
    assertThat(third.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(third.getDescription()).contains("2 calls", "test.max-arriving-calls");

    assertThat(first.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(second.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    for (int i = 0; i < 10; i++) {
      check(); // one place, used and given back by each call
    }
    assertThat(handled).hasValue(10);
  }

  @Test
  void callsWhoseRequestsArriveGiveTheirPlaceBackAndAreNeverCutOff() throws Exception {
    start(1);
    for (int i = 0; i < 50; i++) {
      check();
    }
    Thread.sleep(TIMEOUT.toMillis() * 2); // no timer left to fire on an answered call
    check();
    assertThat(handled).hasValue(51);
  }
}
