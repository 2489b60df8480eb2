package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.security.testing.ConnectionFlood;
import io.arrakis.security.testing.RapidResets;
import io.arrakis.security.testing.SilentCalls;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A connection that resets streams faster than the limit is closed, one under it is left alone; a
 * connection without a call past the idle timeout is closed, whether its client answers the server
 * or never sent a byte, one with a call open is not; without the limits (grpc-java's defaults) a
 * connection takes any number of resets and stays open.
 */
class ConnectionLimitsTest {
  static final int LIMIT = 40;
  static final Duration WINDOW = Duration.ofSeconds(30);
  static final Duration IDLE = Duration.ofMillis(300);

  @Test
  void aConnectionResettingMoreStreamsThanTheLimitWithinTheWindowIsClosed() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(LIMIT, WINDOW, Duration.ZERO, "test"))) {
      RapidResets.connectionClosedPastTheLimit(l.channel, HealthGrpc.getCheckMethod(), LIMIT);
      assertThat(l.check()).as("a check on a new connection").isNotNull();
    }
  }

  @Test
  void withoutTheLimitAConnectionTakesAnyNumberOfResets() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, Duration.ZERO, "test"))) {
      CompletableFuture<Status> held =
          SilentCalls.headersOnly(l.channel, HealthGrpc.getCheckMethod());
      RapidResets.reset(l.channel, HealthGrpc.getCheckMethod(), 20 * LIMIT);
      assertThatThrownBy(() -> held.get(1, TimeUnit.SECONDS))
          .as("the held call after %d resets", 20 * LIMIT)
          .isInstanceOf(TimeoutException.class);
    }
  }

  @Test
  void aConnectionWithoutACallPastTheIdleTimeoutIsClosedAndTheClientReconnects() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, IDLE, "test"))) {
      l.check();
      assertThat(awaitState(l.channel, ConnectivityState.IDLE, 5_000))
          .as("the channel's state within 5 s of its last call")
          .isEqualTo(ConnectivityState.IDLE);
      assertThat(l.check()).as("a check after").isNotNull();
    }
  }

  @Test
  void aConnectionWithACallOpenIsNotIdle() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, IDLE, "test"))) {
      CompletableFuture<Status> held =
          SilentCalls.headersOnly(l.channel, HealthGrpc.getCheckMethod());
      assertThatThrownBy(() -> held.get(IDLE.toMillis() * 5, TimeUnit.MILLISECONDS))
          .as("the held call after five idle timeouts")
          .isInstanceOf(TimeoutException.class);
      assertThat(l.channel.getState(false)).isEqualTo(ConnectivityState.READY);
    }
  }

  @Test
  void aSocketThatNeverSendsAByteIsClosedAfterTheIdleTimeoutAndThePingTimeout() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, IDLE, "test"));
        Socket silent = new Socket("127.0.0.1", l.server.getPort())) {
      assertThat(ConnectionFlood.closedWithin(silent, 20_000))
          .as("the server closed it within 20 s")
          .isTrue();
    }
  }

  @Test
  void withoutTheIdleTimeoutASilentSocketStaysOpen() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, Duration.ZERO, "test"));
        Socket silent = new Socket("127.0.0.1", l.server.getPort())) {
      assertThat(ConnectionFlood.closedWithin(silent, 2_000)).as("closed within 2 s").isFalse();
    }
  }

  @Test
  void aConnectionPastTheCapIsClosedOnArrivalAndFitsAgainOnceOneCloses() throws Exception {
    AcceptedConnections counted;
    // the Loopback's own channel holds one of the two places
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, Duration.ZERO, 2, "test"));
        Socket second = new Socket("127.0.0.1", l.server.getPort());
        Socket third = new Socket("127.0.0.1", l.server.getPort())) {
      counted = l.connections;
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      counted.meter(registry, "test");
      assertThat(ConnectionFlood.closedWithin(third, 5000))
          .as("the third connection is closed")
          .isTrue();
      assertThat(ConnectionFlood.closedWithin(second, 500)).as("the second stays open").isFalse();
      assertThat(l.connections.refused()).isEqualTo(1);
      assertThat(l.connections.open()).isEqualTo(2);
      assertThat(l.check().getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      ManagedChannel another =
          NettyChannelBuilder.forAddress("127.0.0.1", l.server.getPort()).usePlaintext().build();
      try {
        assertThatThrownBy(() -> check(another))
            .isInstanceOfSatisfying(
                StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        second.close();
        awaitOpen(l.connections, 1, 5000);
        // the channel tries again after its reconnect backoff (about a second)
        assertThat(checkOnceConnected(another, 20).getStatus())
            .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThat(l.connections.open()).isEqualTo(2);
        assertThat(registry.get("test_grpc_connections").gauge().value()).isEqualTo(2);
        // the third socket and the new channel's first try (and any retry of it while full)
        assertThat(registry.get("test_grpc_connections_refused").functionCounter().count())
            .isEqualTo(l.connections.refused())
            .isGreaterThanOrEqualTo(2);
        assertThat(counted.closed()).as("its event loops while the server runs").isFalse();
      } finally {
        another.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
    assertThat(counted.closed()).as("its event loops once closed").isTrue();
  }

  @Test
  void withoutACapEveryConnectionIsKept() throws Exception {
    try (Loopback l = new Loopback(new ConnectionLimits(0, WINDOW, Duration.ZERO, 0, "test"))) {
      Socket[] sockets = new Socket[50];
      try {
        for (int i = 0; i < sockets.length; i++) {
          sockets[i] = new Socket("127.0.0.1", l.server.getPort());
        }
        for (Socket s : sockets) {
          assertThat(ConnectionFlood.closedWithin(s, 20)).isFalse();
        }
      } finally {
        for (Socket s : sockets) {
          if (s != null) {
            s.close();
          }
        }
      }
      assertThat(l.check().getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }
  }

  @Test
  void settingsOutsideTheirRangeAreRefusedNamingTheKey() {
    assertThatThrownBy(() -> new ConnectionLimits(10, WINDOW, IDLE, -1, "arrakis.router"))
        .hasMessageContaining("arrakis.router.max-connections");
    assertThatThrownBy(() -> new ConnectionLimits(-1, WINDOW, IDLE, "arrakis.router"))
        .hasMessageContaining("arrakis.router.max-stream-resets");
    for (Duration d : new Duration[] {Duration.ZERO, Duration.ofMillis(1500), Duration.ofDays(2)}) {
      assertThatThrownBy(() -> new ConnectionLimits(10, d, IDLE, "arrakis.expert"))
          .hasMessageContaining("arrakis.expert.stream-reset-window");
    }
    for (Duration d : new Duration[] {Duration.ofSeconds(-1), Duration.ofDays(2)}) {
      assertThatThrownBy(() -> new ConnectionLimits(10, WINDOW, d, "arrakis.expert"))
          .hasMessageContaining("arrakis.expert.connection-idle-timeout");
    }
  }

  /** One try: fails UNAVAILABLE when the channel cannot connect. */
  private static HealthCheckResponse check(ManagedChannel channel) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
  }

  /** Waits (at most {@code seconds}) for the channel to connect, then asks. */
  private static HealthCheckResponse checkOnceConnected(ManagedChannel channel, int seconds) {
    return HealthGrpc.newBlockingStub(channel)
        .withWaitForReady()
        .withDeadlineAfter(seconds, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
  }

  private static void awaitOpen(AcceptedConnections c, int want, long millis)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    while (c.open() != want && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(c.open()).isEqualTo(want);
  }

  private static ConnectivityState awaitState(
      ManagedChannel channel, ConnectivityState want, long millis) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    ConnectivityState state = channel.getState(false);
    while (state != want && System.nanoTime() < deadline) {
      Thread.sleep(20);
      state = channel.getState(false);
    }
    return state;
  }

  /** A health service on a loopback port under {@code limits}, with a connected channel to it. */
  private static final class Loopback implements AutoCloseable {
    final Server server;
    final AcceptedConnections connections;
    final ManagedChannel channel;

    Loopback(ConnectionLimits limits) throws Exception {
      NettyServerBuilder builder =
          NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
              .addService(new HealthStatusManager().getHealthService());
      connections = limits.applyTo(builder);
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
      connections.close();
    }
  }
}
