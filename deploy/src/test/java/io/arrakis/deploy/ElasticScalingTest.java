package io.arrakis.deploy;

import static io.arrakis.deploy.DeployTesting.eventually;
import static io.arrakis.deploy.DeployTesting.onPods;
import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
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
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 6's elastic expert tier, end to end against the mock API server: a real router as {@code
 * arrakis router --kubernetes} runs it, a member of its own router cluster so that it hosts the
 * placement controller (writing the ConfigMap), and real expert nodes as pods. Under load the
 * StatefulSet is scaled up (a new Ready pod joins the next placement and takes experts) and down (a
 * placed pod is deleted: Terminating, its node gets SIGTERM, serves until the placement has moved
 * its experts, then stops). No request fails and every answer matches the independent fixture.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class ElasticScalingTest {
  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final String CONFIG_MAP = PlacementConfigMap.DEFAULT_NAME;

  KubernetesClient client;
  private final List<ExpertPod> pods = new ArrayList<>();

  @AfterEach
  void stopPods() throws Exception {
    for (ExpertPod p : pods) {
      p.close();
    }
  }

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void scalingTheExpertPodsUpAndDownUnderLoadFailsNoRequest() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    try (MoeModel model = MoeModel.open(dir)) {
      Placement v1 =
          onPods(
              1,
              Strategies.place(
                  Strategies.Kind.CONTIGUOUS,
                  2,
                  1,
                  model.moeLayers(),
                  model.config().numExperts()));
      ExpertPod pod0 = startPod(0, 0, v1.node("arrakis-expert-0").experts());
      ExpertPod pod1 = startPod(1, pod0.port(), v1.node("arrakis-expert-1").experts());
      new PlacementPublisher(client, ExpertPod.NS, CONFIG_MAP).publish(v1);

      // a router cluster of one, so that this router runs the placement controller; it re-plans on
      // changes of the expert pods at once, and its interval is long enough never to come round
      // here
      int clusterPort = freePort();
      Config config =
          ConfigFactory.parseMap(
                  Map.of(
                      "arrakis.router.cluster.mode",
                      "seeds",
                      "arrakis.router.cluster.seed-nodes",
                      "127.0.0.1:" + clusterPort,
                      "arrakis.router.cluster.port",
                      clusterPort,
                      "arrakis.router.cluster.controller.interval",
                      "1h"))
              .withFallback(ConfigFactory.load())
              .resolve();
      RouterSettings settings = RouterSettings.from(config).withDrainDelay(Duration.ZERO);
      ExecutorService blocking = Executors.newCachedThreadPool();
      try (KubernetesPlacementSource source =
              KubernetesPlacementSource.start(
                  client,
                  false,
                  new KubernetesPlacementSource.Options(
                      ExpertPod.NS, CONFIG_MAP, ExpertPod.SELECTOR, pod0.port()),
                  model.moeLayers(),
                  model.config().numExperts());
          ExpertChannels channels =
              new ExpertChannels(settings.maxAnswerBytes(model.config().hiddenSize()), null)) {
        Placement initial = source.awaitInitial(WAIT);
        RouterServer router =
            new RouterServer(
                    NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
                    settings,
                    config,
                    model,
                    initial,
                    channels::client,
                    new SimpleMeterRegistry())
                .start();
        ManagedChannel channel =
            NettyChannelBuilder.forAddress("127.0.0.1", router.port()).usePlaintext().build();
        Load load = new Load(channel, dir, model.moeLayers());
        try {
          source.applyTo(router.placementApplier(), initial.version());
          router.joinCluster(source.sink(CONFIG_MAP, blocking));
          load.start(2);
          load.awaitOk(50, WAIT);

          // scale up: a third pod starts empty and turns Ready
          ExpertPod pod2 = startPod(2, pod0.port(), List.of());
          eventually(
              "a placement with arrakis-expert-2 rolled out",
              WAIT,
              () ->
                  source.appliedVersion() >= 2
                      && placement().nodes().stream()
                          .anyMatch(n -> n.id().equals("arrakis-expert-2")));
          Placement up = placement();
          eventually(
              "arrakis-expert-2 holding its experts",
              WAIT,
              () ->
                  !pod2.held().isEmpty()
                      && pod2.held().containsAll(up.node("arrakis-expert-2").experts()));
          load.awaitOk(load.ok() + 50, WAIT);
          long okBeforeDown = load.ok();

          // scale down: pod 1 is deleted (Terminating) and its node gets SIGTERM
          client.pods().inNamespace(ExpertPod.NS).withName("arrakis-expert-1").delete();
          Thread leaving =
              new Thread(
                  () -> {
                    try {
                      pod1.terminate();
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  },
                  "sigterm-arrakis-expert-1");
          leaving.start();
          eventually(
              "a placement without arrakis-expert-1",
              WAIT,
              () -> placement().nodes().stream().noneMatch(n -> n.id().equals("arrakis-expert-1")));
          Placement down = placement();
          leaving.join(WAIT.toMillis());
          assertThat(leaving.isAlive())
              .as("arrakis-expert-1 stopped once its experts had moved")
              .isFalse();
          assertThat(source.appliedVersion()).isEqualTo(down.version());
          load.awaitOk(okBeforeDown + 50, WAIT);
          load.stop();

          System.out.printf(
              "[elastic] versions: %d (2 pods) -> %d (3 pods) -> %d (2 pods); load: %s%n",
              v1.version(), up.version(), down.version(), load);
          assertThat(load.failures()).as("failed calls").isEmpty();
          assertThat(load.wrongAnswers()).as("answers off the fixture").isZero();
          assertThat(down.nodes())
              .extracting(Placement.Node::id)
              .containsExactly("arrakis-expert-0", "arrakis-expert-2");
          down.checkCovers(model.moeLayers(), model.config().numExperts());
          for (ExpertPod p : List.of(pod0, pod2)) {
            assertThat(p.held())
                .as(p.name)
                .containsExactlyInAnyOrderElementsOf(down.node(p.name).experts());
          }
        } finally {
          load.stop();
          channel.shutdownNow();
          router.shutdown();
          blocking.shutdownNow();
        }
      }
    }
  }

  /**
   * Pod n at 127.0.0.(n+1) on {@code port} (0 = a free one), as the manifests run it (leave timeout
   * 60 s).
   */
  private ExpertPod startPod(int n, int port, List<ExpertId> experts) throws Exception {
    ExpertPod p =
        new ExpertPod(
            "arrakis-expert-" + n, "127.0.0." + (n + 1), port, experts, Duration.ofSeconds(60));
    pods.add(p);
    client.pods().inNamespace(ExpertPod.NS).resource(p.pod()).create();
    return p;
  }

  private Placement placement() {
    return PlacementConfigMap.read(
        client.configMaps().inNamespace(ExpertPod.NS).withName(CONFIG_MAP).get());
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * Callers sending the fixture's input to every MoE layer in turn, each answer checked against the
   * fixture.
   */
  private static final class Load {
    private final ManagedChannel channel;
    private final List<ForwardRequest> requests = new ArrayList<>();
    private final List<float[]> expected = new ArrayList<>();
    private final AtomicLong ok = new AtomicLong();
    private final AtomicLong wrong = new AtomicLong();
    private final List<String> failures = new CopyOnWriteArrayList<>();
    private final List<Thread> callers = new ArrayList<>();
    private volatile boolean running;

    Load(ManagedChannel channel, Path dir, List<Integer> layers) throws IOException {
      this.channel = channel;
      float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
      long[] shape = Fixtures.shape(dir.resolve("input.safetensors"), "hidden_states");
      for (int layer : layers) {
        requests.add(
            ForwardRequest.newBuilder()
                .setRequestId("elastic-" + layer)
                .setLayer(layer)
                .setHiddenStates(TensorCodec.encodeFloat(x, shape[0], shape[1]))
                .build());
        expected.add(
            Fixtures.floats(dir.resolve("expected-layer" + layer + ".safetensors"), "output"));
      }
    }

    void start(int n) {
      running = true;
      for (int i = 0; i < n; i++) {
        Thread t = new Thread(this::call, "elastic-load-" + i);
        callers.add(t);
        t.start();
      }
    }

    private void call() {
      InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel);
      for (int i = 0; running; i++) {
        int k = i % requests.size();
        try {
          ForwardResponse r = stub.withDeadlineAfter(30, TimeUnit.SECONDS).forward(requests.get(k));
          float[] want = expected.get(k);
          if (Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want)
              > 1e-4f * Fixtures.maxAbs(want)) {
            wrong.incrementAndGet();
          }
          ok.incrementAndGet();
        } catch (StatusRuntimeException e) {
          failures.add(e.getStatus().getCode() + ": " + e.getStatus().getDescription());
        }
      }
    }

    long ok() {
      return ok.get();
    }

    long wrongAnswers() {
      return wrong.get();
    }

    List<String> failures() {
      return failures;
    }

    /** Waits until {@code n} calls have succeeded (the load really ran across a step). */
    void awaitOk(long n, Duration timeout) throws InterruptedException {
      eventually(
          n + " answered calls (" + failures.size() + " failed so far)",
          timeout,
          () -> ok.get() >= n);
    }

    void stop() throws InterruptedException {
      running = false;
      for (Thread t : callers) {
        t.join(TimeUnit.SECONDS.toMillis(35));
      }
    }

    @Override
    public String toString() {
      return ok.get() + " ok, " + failures.size() + " failed, " + wrong.get() + " wrong";
    }
  }
}
