package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.security.testing.RapidResets;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The plaintext probe port: health alone, off unless asked for, under the node's reset limit. */
class HealthPortTest {
  @Test
  void withoutAPortNothingIsStarted() throws Exception {
    HealthPort off = new HealthPort();
    assertThat(off.start("127.0.0.1", new HealthStatusManager().getHealthService(), limit(10)))
        .isNull();
  }

  @Test
  void answersHealthAndClosesAConnectionThatResetsPastTheNodesLimit() throws Exception {
    HealthPort probes = new HealthPort();
    new CommandLine(probes).parseArgs("--health-port", Integer.toString(freePort()));
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    HealthPort.Started server = probes.start("127.0.0.1", health.getHealthService(), limit(40));
    ManagedChannel channel =
        NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      assertThat(check(channel)).isEqualTo(ServingStatus.SERVING);
      RapidResets.connectionClosedPastTheLimit(channel, HealthGrpc.getCheckMethod(), 40);
      assertThat(check(channel)).isEqualTo(ServingStatus.SERVING);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.close();
    }
  }

  private static ConnectionLimits limit(int resets) {
    return new ConnectionLimits(resets, Duration.ofSeconds(30), Duration.ZERO, "test");
  }

  private static ServingStatus check(ManagedChannel channel) {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance())
        .getStatus();
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
