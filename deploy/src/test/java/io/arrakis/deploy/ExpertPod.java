package io.arrakis.deploy;

import com.typesafe.config.ConfigFactory;
import io.arrakis.expert.ExpertNodeServer;
import io.arrakis.expert.ExpertNodeSettings;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real expert node (mixtral-tiny) as its StatefulSet pod runs it, holding at start what the
 * mounted placement gives it, and the pod object the API server would hold for it. Each pod has its
 * own loopback address (127.0.0.n) and all share one port, as pods share the container port.
 */
final class ExpertPod implements AutoCloseable {
  static final String NS = "arrakis-test";
  static final String SELECTOR = "app.kubernetes.io/component=expert";

  final String name;
  final String ip;
  final MoeModel model;
  final ExpertNodeServer server;
  final ManagedChannel channel;
  private boolean stopped;

  /**
   * @param leaveTimeout how long the node serves on after SIGTERM while it still holds experts (the
   *     manifests' 60 s)
   */
  ExpertPod(String name, String ip, int port, List<ExpertId> experts, Duration leaveTimeout)
      throws Exception {
    this.name = name;
    this.ip = ip;
    model = MoeModel.open(Fixtures.dir(Fixtures.MIXTRAL_TINY));
    ExpertStore store = new ExpertStore(model);
    store.load(experts);
    ExpertNodeSettings settings =
        ExpertNodeSettings.from(ConfigFactory.load())
            .withNodeId(name)
            .withPort(port)
            .withDrainDelay(Duration.ZERO)
            .withLeaveTimeout(leaveTimeout);
    server =
        new ExpertNodeServer(
                NettyServerBuilder.forAddress(new InetSocketAddress(ip, port)), settings, store)
            .start();
    server.markServing();
    channel = NettyChannelBuilder.forAddress(ip, server.port()).usePlaintext().build();
  }

  int port() {
    return server.port();
  }

  /** What the node says it holds (Expert.Describe). */
  List<ExpertId> held() {
    return ExpertGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .describe(DescribeRequest.getDefaultInstance())
        .getExpertsList()
        .stream()
        .map(r -> new ExpertId(r.getLayer(), r.getExpert()))
        .toList();
  }

  /**
   * The pod object: Ready, at its IP, without the StatefulSet's stable name (no DNS here). Its
   * finalizer makes a delete leave it Terminating (deletionTimestamp set) in the mock API server,
   * as the kubelet's grace period does in a real one.
   */
  Pod pod() {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(NS)
        .addToLabels("app.kubernetes.io/component", "expert")
        .addToLabels("app.kubernetes.io/name", "arrakis")
        .addToFinalizers("arrakis.io/test-grace-period")
        .endMetadata()
        .withNewSpec()
        .addNewContainer()
        .withName("expert")
        .withImage("arrakis:test")
        .endContainer()
        .endSpec()
        .withNewStatus()
        .withPodIP(ip)
        .withPhase("Running")
        .addNewCondition()
        .withType("Ready")
        .withStatus("True")
        .endCondition()
        .endStatus()
        .build();
  }

  /**
   * What SIGTERM does to the node: serve until its experts are unloaded (at most the leave
   * timeout), drain, stop.
   */
  synchronized void terminate() throws InterruptedException {
    if (!stopped) {
      stopped = true;
      server.shutdown();
    }
  }

  @Override
  public void close() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.store().unload(server.store().held()); // a test's end: no one moves these experts
    terminate();
    model.close();
  }
}
