package io.arrakis.loadtest.cluster;

import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Asks one gRPC server's grpc.health.v1 service whether it is SERVING; one channel, reused. A
 * handshake refused (say, a client certificate the server does not take) reads as not serving.
 */
final class HealthProbe implements AutoCloseable {
  private final ManagedChannel channel;

  /**
   * @param security how to reach the server (TLS where the cluster uses it)
   */
  public HealthProbe(String host, int port, ClientSecurity security) throws IOException {
    this.channel = security.channelBuilder(host + ":" + port).build();
  }

  /**
   * True when the server answers SERVING within {@code timeout}; false on any other answer or none.
   */
  public boolean serving(Duration timeout) {
    try {
      return HealthGrpc.newBlockingStub(channel)
              .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
              .check(HealthCheckRequest.newBuilder().setService("").build())
              .getStatus()
          == ServingStatus.SERVING;
    } catch (StatusRuntimeException e) {
      return false;
    }
  }

  @Override
  public void close() {
    channel.shutdownNow();
  }
}
