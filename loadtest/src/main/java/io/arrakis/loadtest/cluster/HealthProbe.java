package io.arrakis.loadtest.cluster;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** Asks one gRPC server's grpc.health.v1 service whether it is SERVING; one channel, reused. */
public final class HealthProbe implements AutoCloseable {
  private final ManagedChannel channel;

  public HealthProbe(String host, int port) {
    this.channel = NettyChannelBuilder.forAddress(host, port).usePlaintext().build();
  }

  /** True when the server answers SERVING within {@code timeout}; false on any other answer or none. */
  public boolean serving(Duration timeout) {
    try {
      return HealthGrpc.newBlockingStub(channel)
          .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
          .check(HealthCheckRequest.newBuilder().setService("").build())
          .getStatus() == ServingStatus.SERVING;
    } catch (StatusRuntimeException e) {
      return false;
    }
  }

  @Override
  public void close() {
    channel.shutdownNow();
  }
}
