package io.arrakis.deploy;

import static io.arrakis.deploy.DeployTesting.eventually;
import static io.arrakis.deploy.DeployTesting.onPods;
import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.router.ExpertChannels;
import io.arrakis.router.RouterServer;
import io.arrakis.router.RouterSettings;
import io.arrakis.router.kubernetes.KubernetesPlacementSource;
import io.arrakis.router.kubernetes.PlacementConfigMap;
import io.arrakis.router.kubernetes.PlacementPublisher;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A placement ConfigMap update reaching the router and the expert nodes: a real router wired as
 * {@code arrakis router --kubernetes} wires it (discovery, ConfigMap watch, live rollout, gRPC
 * clients) and real expert nodes, against the mock API server. Each expert pod has its own loopback
 * address (127.0.0.n) and all share one port ({@link ExpertPod}); the router finds them through pod
 * discovery alone.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class ConfigMapRolloutTest {
  private static final String NS = ExpertPod.NS;
  private static final String SELECTOR = ExpertPod.SELECTOR;
  private static final Duration WAIT = Duration.ofSeconds(30);

  KubernetesClient client;
  private final List<ExpertPod> pods = new ArrayList<>();

  @AfterEach
  void stopPods() throws Exception {
    for (ExpertPod p : pods) {
      p.close();
    }
  }

  @Test
  void aNewVersionInTheConfigMapIsLoadedAndUnloadedOnTheExpertNodesAndServed() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    try (MoeModel model = MoeModel.open(dir)) {
      // version 1 on pods 0 and 1; pod 2 has just been scaled up and holds nothing yet
      Placement v1 =
          onPods(
              1,
              Strategies.place(
                  Strategies.Kind.CONTIGUOUS,
                  2,
                  1,
                  model.moeLayers(),
                  model.config().numExperts()));
      Placement v2 =
          onPods(
              2,
              Strategies.place(
                  Strategies.Kind.ROUND_ROBIN,
                  3,
                  1,
                  model.moeLayers(),
                  model.config().numExperts()));
      startPods(v1);
      int port = pods.get(0).port();
      PlacementPublisher publisher =
          new PlacementPublisher(client, NS, PlacementConfigMap.DEFAULT_NAME);
      publisher.publish(v1);
      RouterSettings settings =
          RouterSettings.from(ConfigFactory.load()).withDrainDelay(Duration.ZERO);

      try (KubernetesPlacementSource source =
              KubernetesPlacementSource.start(
                  client,
                  false,
                  new KubernetesPlacementSource.Options(
                      NS, PlacementConfigMap.DEFAULT_NAME, SELECTOR, port),
                  model.moeLayers(),
                  model.config().numExperts());
          ExpertChannels channels =
              new ExpertChannels(settings.maxAnswerBytes(model.config().hiddenSize()), null)) {
        Placement initial = source.awaitInitial(WAIT);
        assertThat(initial.nodes())
            .extracting(Placement.Node::address)
            .containsExactly("127.0.0.1:" + port, "127.0.0.2:" + port);
        RouterServer router =
            new RouterServer(
                    NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
                    settings,
                    ConfigFactory.load(),
                    model,
                    initial,
                    channels::client,
                    new SimpleMeterRegistry())
                .start();
        ManagedChannel channel =
            NettyChannelBuilder.forAddress("127.0.0.1", router.port()).usePlaintext().build();
        try {
          source.applyTo(router.placementApplier(), initial.version());

          publisher.publish(v2);
          // the router's rollout loads what each node newly holds, switches, then unloads what it
          // dropped
          for (ExpertPod p : pods) {
            List<ExpertId> want = v2.node(p.name).experts().stream().sorted().toList();
            eventually(
                p.name + " holding exactly its experts of version 2",
                WAIT,
                () -> p.held().equals(want));
          }
          assertThat(source.appliedVersion()).isEqualTo(2);
          assertThat(pods.get(2).held()).isNotEmpty();

          // the router now computes on version 2's nodes, and gets the independent fixtures'
          // answers
          InferenceGrpc.InferenceBlockingStub inference = InferenceGrpc.newBlockingStub(channel);
          float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
          long[] shape = Fixtures.shape(dir.resolve("input.safetensors"), "hidden_states");
          for (int layer : model.moeLayers()) {
            ForwardResponse r =
                inference
                    .withDeadlineAfter(30, TimeUnit.SECONDS)
                    .forward(
                        ForwardRequest.newBuilder()
                            .setRequestId("after-rollout")
                            .setLayer(layer)
                            .setHiddenStates(TensorCodec.encodeFloat(x, shape[0], shape[1]))
                            .build());
            float[] want =
                Fixtures.floats(dir.resolve("expected-layer" + layer + ".safetensors"), "output");
            assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
                .as("layer %d max |diff|", layer)
                .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(want));
          }
        } finally {
          channel.shutdownNow();
          router.shutdown();
        }
      }
    }
  }

  /**
   * Pod n at 127.0.0.(n+1), all on the port the first one got; Linux routes all of 127.0.0.0/8 to
   * the loopback interface.
   */
  private void startPods(Placement v1) throws Exception {
    int port = 0;
    for (int n = 0; n < 3; n++) {
      String name = "arrakis-expert-" + n;
      List<ExpertId> experts = n < v1.nodes().size() ? v1.node(name).experts() : List.of();
      ExpertPod p = new ExpertPod(name, "127.0.0." + (n + 1), port, experts, Duration.ZERO);
      pods.add(p);
      port = p.port();
      client.pods().inNamespace(NS).resource(p.pod()).create();
    }
  }
}
