package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.security.testing.RapidResets;
import io.arrakis.security.testing.SilentCalls;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A connection that resets streams faster than the limit is closed; one under it is left alone; a
 * server without the limit (grpc-java's default) takes any number.
 */
class StreamResetLimitTest {
  static final int LIMIT = 40;

  @Test
  void aConnectionResettingMoreStreamsThanTheLimitWithinTheWindowIsClosed() throws Exception {
    try (Loopback l = new Loopback(new StreamResetLimit(LIMIT, Duration.ofSeconds(30), "test"))) {
      RapidResets.connectionClosedPastTheLimit(l.channel, HealthGrpc.getCheckMethod(), LIMIT);
      assertThat(l.check()).as("a check on a new connection").isNotNull();
    }
  }

  @Test
  void withoutTheLimitAConnectionTakesAnyNumberOfResets() throws Exception {
    try (Loopback l = new Loopback(new StreamResetLimit(0, Duration.ofSeconds(30), "test"))) {
      CompletableFuture<Status> held =
          SilentCalls.headersOnly(l.channel, HealthGrpc.getCheckMethod());
      RapidResets.reset(l.channel, HealthGrpc.getCheckMethod(), 20 * LIMIT);
      assertThatThrownBy(() -> held.get(1, TimeUnit.SECONDS))
          .as("the held call after %d resets", 20 * LIMIT)
          .isInstanceOf(TimeoutException.class);
    }
  }

  @Test
  void settingsOutsideTheirRangeAreRefusedNamingTheKey() {
    assertThatThrownBy(() -> new StreamResetLimit(-1, Duration.ofSeconds(10), "arrakis.router"))
        .hasMessageContaining("arrakis.router.max-stream-resets");
    for (Duration d : new Duration[] {Duration.ZERO, Duration.ofMillis(1500), Duration.ofDays(2)}) {
      assertThatThrownBy(() -> new StreamResetLimit(10, d, "arrakis.expert"))
          .hasMessageContaining("arrakis.expert.stream-reset-window");
    }
  }

  /** A health service on a loopback port under {@code limit}, with a connected channel to it. */
  private static final class Loopback implements AutoCloseable {
    final Server server;
    final ManagedChannel channel;

    Loopback(StreamResetLimit limit) throws Exception {
      NettyServerBuilder builder =
          NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
              .addService(new HealthStatusManager().getHealthService());
      limit.applyTo(builder);
      server = builder.build().start();
      channel =
          NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
      SilentCalls.awaitReady(channel);
    }

    HealthCheckResponse check() {
      return HealthGrpc.newBlockingStub(channel)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance());
    }

    @Override
    public void close() throws InterruptedException {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
