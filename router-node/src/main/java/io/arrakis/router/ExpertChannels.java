package io.arrakis.router;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.dispatch.GrpcExpertClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** One gRPC channel per expert node address, closed together on shutdown. */
public final class ExpertChannels implements AutoCloseable {
  private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
  private final int maxMessageBytes;
  private final SslContext tls;

  /** @param tls mutual-TLS client context, or null for plaintext */
  public ExpertChannels(int maxMessageBytes, SslContext tls) {
    this.maxMessageBytes = maxMessageBytes;
    this.tls = tls;
  }

  public ExpertClient client(Placement.Node node) {
    if (node.address() == null) {
      throw new IllegalArgumentException("node '" + node.id() + "' has no address");
    }
    return new GrpcExpertClient(channels.computeIfAbsent(node.address(), a -> {
      // answers only complete a future that tells an actor: no need to wake gRPC's executor for that
      NettyChannelBuilder b = NettyChannelBuilder.forTarget(a).maxInboundMessageSize(maxMessageBytes).directExecutor();
      return (tls == null ? b.usePlaintext() : b.sslContext(tls)).build();
    }));
  }

  @Override
  public void close() throws InterruptedException {
    channels.values().forEach(ManagedChannel::shutdown);
    for (ManagedChannel c : channels.values()) {
      if (!c.awaitTermination(5, TimeUnit.SECONDS)) {
        c.shutdownNow();
      }
    }
  }
}
