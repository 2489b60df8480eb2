package io.arrakis.router;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.dispatch.GrpcExpertClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The gRPC channels to expert nodes: one per client, which the router closes when it no longer uses
 * that node at that address; those still open are closed together on shutdown.
 */
public final class ExpertChannels implements AutoCloseable {
  private final Set<ManagedChannel> channels = ConcurrentHashMap.newKeySet();
  private final int maxMessageBytes;
  private final SslContext tls;

  /**
   * @param maxMessageBytes the largest answer accepted ({@link RouterSettings#maxAnswerBytes})
   * @param tls mutual-TLS client context, or null for plaintext
   */
  public ExpertChannels(int maxMessageBytes, SslContext tls) {
    this.maxMessageBytes = maxMessageBytes;
    this.tls = tls;
  }

  public ExpertClient client(Placement.Node node) {
    if (node.address() == null) {
      throw new IllegalArgumentException("node '" + node.id() + "' has no address");
    }
    // answers only complete a future that tells an actor: no need to wake gRPC's executor for that
    NettyChannelBuilder b =
        NettyChannelBuilder.forTarget(node.address())
            .maxInboundMessageSize(maxMessageBytes)
            .directExecutor();
    ManagedChannel channel = (tls == null ? b.usePlaintext() : b.sslContext(tls)).build();
    channels.add(channel);
    return new GrpcExpertClient(channel, () -> channels.remove(channel));
  }

  @Override
  public void close() throws InterruptedException {
    channels.forEach(ManagedChannel::shutdown);
    for (ManagedChannel c : channels) {
      if (!c.awaitTermination(5, TimeUnit.SECONDS)) {
        c.shutdownNow();
      }
    }
  }
}
