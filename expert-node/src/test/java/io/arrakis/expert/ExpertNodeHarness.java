package io.arrakis.expert;

import com.typesafe.config.ConfigFactory;
import io.arrakis.expert.metrics.ExpertMetrics;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.ExpertGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** An expert node on a loopback Netty port with a channel to it, for tests. */
final class ExpertNodeHarness implements AutoCloseable {
  final MoeModel model;
  final ExpertNodeServer server;
  final ManagedChannel channel;

  ExpertNodeHarness(Path modelDir, List<ExpertId> experts, ExpertNodeSettings settings)
      throws Exception {
    this(modelDir, experts, settings, ExpertMetrics.off());
  }

  /** A node recording its meters into {@code registry}. */
  ExpertNodeHarness(
      Path modelDir, List<ExpertId> experts, ExpertNodeSettings settings, MeterRegistry registry)
      throws Exception {
    model = MoeModel.open(modelDir);
    ExpertStore store = new ExpertStore(model);
    server =
        new ExpertNodeServer(
                NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
                settings,
                store,
                registry)
            .start();
    store.load(experts);
    server.markServing();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
  }

  static ExpertNodeSettings defaults() {
    return ExpertNodeSettings.from(ConfigFactory.load())
        .withNodeId("expert-test")
        .withPort(0)
        .withDrainDelay(Duration.ofMillis(300));
  }

  ExpertGrpc.ExpertBlockingStub stub() {
    return ExpertGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdown();
    model.close();
  }
}
