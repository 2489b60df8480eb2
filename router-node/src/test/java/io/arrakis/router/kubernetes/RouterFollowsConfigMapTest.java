package io.arrakis.router.kubernetes;

import static io.arrakis.router.kubernetes.KubeFixtures.NS;
import static io.arrakis.router.kubernetes.KubeFixtures.PORT;
import static io.arrakis.router.kubernetes.KubeFixtures.SELECTOR;
import static io.arrakis.router.kubernetes.KubeFixtures.dnsAddress;
import static io.arrakis.router.kubernetes.KubeFixtures.eventually;
import static io.arrakis.router.kubernetes.KubeFixtures.expertPod;
import static io.arrakis.router.kubernetes.KubeFixtures.putPlacement;
import static io.arrakis.router.kubernetes.KubeFixtures.putPod;
import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.PlacementNode;
import io.arrakis.router.RouterServer;
import io.arrakis.router.RouterSettings;
import io.arrakis.router.dispatch.ExpertClient;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * A real router wired as {@code arrakis router --kubernetes} wires it, against the mock API server:
 * it starts from the ConfigMap's placement and switches when the ConfigMap gets a new version. The
 * expert nodes' side (real nodes loading and unloading) is deploy's {@code ConfigMapRolloutTest},
 * where both node modules are on the class path.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class RouterFollowsConfigMapTest {
  KubernetesClient client;

  /**
   * An expert node that only records what the router asks it to load and where it was told to reach
   * it.
   */
  private static final class RecordingExpert implements ExpertClient {
    final String address;
    final List<ExpertId> loaded = new CopyOnWriteArrayList<>();

    RecordingExpert(String address) {
      this.address = address;
    }

    @Override
    public CompletableFuture<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
      return CompletableFuture.failedFuture(Status.UNIMPLEMENTED.asRuntimeException());
    }

    @Override
    public CompletionStage<NodeDescription> describe(Duration timeout) {
      return CompletableFuture.failedFuture(Status.UNIMPLEMENTED.asRuntimeException());
    }

    @Override
    public CompletionStage<Void> load(List<ExpertId> experts, Duration timeout) {
      loaded.addAll(experts);
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout) {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Boolean> serving(Duration timeout) {
      return CompletableFuture.completedFuture(true);
    }
  }

  /**
   * A placement of the model over pods arrakis-expert-0.., without addresses, as a controller would
   * publish it.
   */
  private static Placement onPods(long version, Strategies.Kind kind, int nodes, MoeModel model) {
    return KubeFixtures.onPods(
        version, Strategies.place(kind, nodes, 1, model.moeLayers(), model.config().numExperts()));
  }

  @Test
  void configMapUpdateChangesTheRoutersPlacement() throws Exception {
    for (int i = 0; i < 3; i++) {
      putPod(client, expertPod("arrakis-expert-" + i, true));
    }
    Map<String, RecordingExpert> experts = new ConcurrentHashMap<>();
    try (MoeModel model = MoeModel.open(Fixtures.dir(Fixtures.MIXTRAL_TINY));
        KubernetesPlacementSource source =
            KubernetesPlacementSource.start(
                client,
                false,
                new KubernetesPlacementSource.Options(
                    NS, PlacementConfigMap.DEFAULT_NAME, SELECTOR, PORT),
                model.moeLayers(),
                model.config().numExperts())) {
      putPlacement(client, onPods(1, Strategies.Kind.CONTIGUOUS, 2, model));
      Placement initial = source.awaitInitial(Duration.ofSeconds(30));
      RouterSettings settings =
          RouterSettings.from(ConfigFactory.load()).withDrainDelay(Duration.ZERO);
      RouterServer router =
          new RouterServer(
                  NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
                  settings,
                  ConfigFactory.load(),
                  model,
                  initial,
                  node ->
                      experts.computeIfAbsent(node.id(), id -> new RecordingExpert(node.address())),
                  new SimpleMeterRegistry())
              .start();
      ManagedChannel channel =
          NettyChannelBuilder.forAddress("127.0.0.1", router.port()).usePlaintext().build();
      try {
        source.applyTo(router.placementApplier(), initial.version());
        ClusterGrpc.ClusterBlockingStub cluster = ClusterGrpc.newBlockingStub(channel);
        io.arrakis.proto.v1.Placement before =
            cluster
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .getPlacement(GetPlacementRequest.getDefaultInstance());
        assertThat(before.getVersion()).isEqualTo(1);
        assertThat(addresses(before))
            .isEqualTo(
                Map.of(
                    "arrakis-expert-0",
                    dnsAddress("arrakis-expert-0"),
                    "arrakis-expert-1",
                    dnsAddress("arrakis-expert-1")));

        Placement v2 = onPods(2, Strategies.Kind.ROUND_ROBIN, 3, model);
        putPlacement(client, v2);
        eventually(
            "router on placement version 2",
            Duration.ofSeconds(30),
            () ->
                cluster
                        .withDeadlineAfter(10, TimeUnit.SECONDS)
                        .getPlacement(GetPlacementRequest.getDefaultInstance())
                        .getVersion()
                    == 2);
        io.arrakis.proto.v1.Placement after =
            cluster
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .getPlacement(GetPlacementRequest.getDefaultInstance());
        assertThat(addresses(after))
            .containsEntry("arrakis-expert-2", dnsAddress("arrakis-expert-2"))
            .hasSize(3);
        // the new pod was reached at its discovered address and loaded what version 2 gives it
        assertThat(experts.get("arrakis-expert-2").address)
            .isEqualTo(dnsAddress("arrakis-expert-2"));
        assertThat(experts.get("arrakis-expert-2").loaded)
            .containsExactlyInAnyOrderElementsOf(v2.node("arrakis-expert-2").experts());
        assertThat(source.appliedVersion()).isEqualTo(2);
      } finally {
        channel.shutdownNow();
        router.shutdown();
      }
    }
  }

  private static Map<String, String> addresses(io.arrakis.proto.v1.Placement p) {
    return p.getNodesList().stream()
        .collect(Collectors.toMap(PlacementNode::getId, PlacementNode::getAddress));
  }
}
