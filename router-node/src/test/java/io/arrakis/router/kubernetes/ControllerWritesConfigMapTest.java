package io.arrakis.router.kubernetes;

import static io.arrakis.router.kubernetes.KubeFixtures.NS;
import static io.arrakis.router.kubernetes.KubeFixtures.PORT;
import static io.arrakis.router.kubernetes.KubeFixtures.SELECTOR;
import static io.arrakis.router.kubernetes.KubeFixtures.eventually;
import static io.arrakis.router.kubernetes.KubeFixtures.expertPod;
import static io.arrakis.router.kubernetes.KubeFixtures.onPods;
import static io.arrakis.router.kubernetes.KubeFixtures.putPod;
import static io.arrakis.router.kubernetes.KubeFixtures.setReady;
import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.placement.planner.Balance;
import io.arrakis.model.placement.planner.Loads;
import io.arrakis.router.cluster.ClusterSettings;
import io.arrakis.router.cluster.PlacementController;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.ManualTime;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The placement controller on Kubernetes: the real actor on manual time, publishing through the
 * real {@link ConfigMapSink} (discovery of expert pods, {@link PlacementPublisher}) into the mock
 * API server. What it writes is checked in the ConfigMap itself.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class ControllerWritesConfigMapTest {
  private static final String NAME = PlacementConfigMap.DEFAULT_NAME;
  private static final String PATH = "/api/v1/namespaces/" + NS + "/configmaps/" + NAME;
  private static final List<Integer> LAYERS = List.of(0, 1);
  private static final int EXPERTS = 8;
  private static final Duration INTERVAL = Duration.ofSeconds(30);
  private static final double THRESHOLD = 0.05;

  /**
   * 4 pods x 2 experts per layer, one copy each: contiguous puts experts 0 and 1 of each layer on
   * pod 0.
   */
  private static final Placement V1 =
      onPods(1, Strategies.place(Strategies.Kind.CONTIGUOUS, 4, 1, LAYERS, EXPERTS));

  private static final List<String> FOUR_PODS =
      List.of("arrakis-expert-0", "arrakis-expert-1", "arrakis-expert-2", "arrakis-expert-3");

  KubernetesClient client;
  KubernetesMockServer server;

  private ActorTestKit kit;
  private ManualTime time;
  private ExpertDiscovery discovery;
  private final ExecutorService blocking = Executors.newCachedThreadPool();
  private final AtomicReference<Map<ExpertId, Long>> load = new AtomicReference<>(Map.of());

  @BeforeEach
  void start() {
    for (String pod : FOUR_PODS) {
      putPod(
          client,
          new PodBuilder(expertPod(pod, true))
              // keeps a deleted pod Terminating (deletionTimestamp set) until the test lets it go,
              // as a grace period does
              .editMetadata()
              .addToFinalizers("arrakis.io/test-grace-period")
              .endMetadata()
              .build());
    }
    new PlacementPublisher(client, NS, NAME).publish(V1);
    discovery = new ExpertDiscovery(client, NS, SELECTOR, PORT).start(Duration.ofSeconds(30));
    kit = ActorTestKit.create(ManualTime.config().withFallback(ConfigFactory.load()));
    time = ManualTime.get(kit.system());
  }

  @AfterEach
  void stop() {
    kit.shutdownTestKit();
    discovery.close();
    blocking.shutdownNow();
  }

  private ActorRef<PlacementController.Command> controller() throws InterruptedException {
    eventually("4 expert pods discovered", () -> discovery.addresses().size() == FOUR_PODS.size());
    return kit.spawn(
        PlacementController.create(
            new PlacementController.Setup(
                new ClusterSettings.ControllerSettings(
                    INTERVAL, THRESHOLD, 0, Duration.ofSeconds(10)),
                load::get,
                new ConfigMapSink(client, NS, NAME, discovery, blocking),
                LAYERS,
                EXPERTS,
                blocking)));
  }

  @Test
  void skewedLoadGetsANewVersionOnceTheIntervalHasPassedAndNoneWhileItHolds() throws Exception {
    load.set(skewed());
    var controller = controller();
    drainRequests();

    time.timePasses(INTERVAL.minusMillis(1));
    assertThat(status(controller).rounds()).isZero();

    time.timePasses(Duration.ofMillis(1));
    assertThat(awaitRounds(controller, 1).published()).isEqualTo(2);
    Placement v2 = placement();
    assertThat(v2.version()).isEqualTo(2);
    assertThat(v2.nodes()).extracting(Placement.Node::id).containsExactlyElementsOf(FOUR_PODS);
    // node ids only: every router fills in the addresses from its own discovery
    assertThat(v2.nodes()).extracting(Placement.Node::address).containsOnlyNulls();
    v2.checkCovers(LAYERS, EXPERTS);
    double before = Balance.of(V1, loads(skewed())).mean();
    assertThat(Balance.of(v2, loads(skewed())).mean()).isLessThan(before * (1 - THRESHOLD));
    assertThat(writes()).hasSize(1); // against the resourceVersion it read: see aConcurrentWrite...

    // the next interval finds nothing better under the same load: the ConfigMap is not written
    // again
    String v2ResourceVersion = configMap().getMetadata().getResourceVersion();
    time.timePasses(INTERVAL);
    assertThat(awaitRounds(controller, 2).lastDecision()).startsWith("kept");
    assertThat(configMap().getMetadata().getResourceVersion()).isEqualTo(v2ResourceVersion);
    assertThat(writes()).isEmpty();
  }

  @Test
  void anImprovementUnderTheThresholdWritesNothing() throws Exception {
    load.set(nearlyEven());
    var controller = controller();
    String resourceVersion = configMap().getMetadata().getResourceVersion();
    drainRequests();

    time.timePasses(INTERVAL);
    assertThat(awaitRounds(controller, 1).lastDecision())
        .startsWith("kept")
        .contains("threshold 5.0%");
    assertThat(placement()).isEqualTo(V1);
    assertThat(configMap().getMetadata().getResourceVersion()).isEqualTo(resourceVersion);
    assertThat(writes()).isEmpty();
  }

  @Test
  void anExpertPodJoinsTheNextVersionAsSoonAsItIsReady() throws Exception {
    load.set(nearlyEven()); // no reason to re-plan but the new node
    var controller = controller();
    putPod(client, expertPod("arrakis-expert-4", false));
    time.timePasses(INTERVAL);
    assertThat(awaitRounds(controller, 1).lastDecision())
        .startsWith("kept"); // not Ready: not a node yet
    assertThat(placement()).isEqualTo(V1);

    setReady(
        client,
        "arrakis-expert-4",
        true); // no interval passes: the pod's readiness starts the round
    assertThat(awaitRounds(controller, 2).published()).isEqualTo(2);
    Placement v2 = placement();
    assertThat(v2.version()).isEqualTo(2);
    assertThat(v2.nodes())
        .extracting(Placement.Node::id)
        .containsExactly(
            "arrakis-expert-0",
            "arrakis-expert-1",
            "arrakis-expert-2",
            "arrakis-expert-3",
            "arrakis-expert-4");
    assertThat(v2.node("arrakis-expert-4").experts()).isNotEmpty();
    v2.checkCovers(LAYERS, EXPERTS);
  }

  @Test
  void aTerminatingExpertPodLeavesTheNextVersionWithItsExpertsMovedElsewhere() throws Exception {
    load.set(nearlyEven());
    var controller = controller();
    client
        .pods()
        .inNamespace(NS)
        .withName("arrakis-expert-3")
        .delete(); // Terminating: deletionTimestamp set

    assertThat(awaitRounds(controller, 1).published()).isEqualTo(2);
    Placement v2 = placement();
    assertThat(v2.version()).isEqualTo(2);
    assertThat(v2.nodes())
        .extracting(Placement.Node::id)
        .containsExactlyElementsOf(FOUR_PODS.subList(0, 3));
    v2.checkCovers(LAYERS, EXPERTS); // pod 3's experts live on elsewhere before it stops
    assertThat(
            client
                .pods()
                .inNamespace(NS)
                .withName("arrakis-expert-3")
                .get()
                .getMetadata()
                .getDeletionTimestamp())
        .isNotNull();
  }

  @Test
  void aPlacedPodThatIsOnlyNotReadyKeepsItsExperts() throws Exception {
    load.set(nearlyEven());
    var controller = controller();
    String resourceVersion = configMap().getMetadata().getResourceVersion();

    setReady(
        client,
        "arrakis-expert-3",
        false); // its container restarts: the pod stays, so does the node
    PlacementController.Status status = awaitRounds(controller, 1);
    assertThat(status.lastDecision()).startsWith("kept");
    assertThat(status.published()).isEqualTo(-1);
    assertThat(placement()).isEqualTo(V1);
    assertThat(configMap().getMetadata().getResourceVersion()).isEqualTo(resourceVersion);
  }

  @Test
  void aConcurrentWriteMakesTheFirstWriteFailAndTheRetryKeepsIt() throws Exception {
    load.set(skewed());
    var controller = controller();
    ConfigMap read = configMap();
    // someone else writes after the controller has read: both its reads return the old state
    client
        .configMaps()
        .inNamespace(NS)
        .withName(NAME)
        .edit(
            cm -> {
              cm.getData().put("notes.txt", "written concurrently");
              return cm;
            });
    server.expect().get().withPath(PATH).andReturn(200, read).times(2);
    drainRequests();

    time.timePasses(INTERVAL);
    assertThat(awaitRounds(controller, 1).published()).isEqualTo(2);
    assertThat(requests())
        .containsExactly("GET", "GET", "PUT", "GET", "PUT"); // the first PUT got 409 Conflict
    ConfigMap cm = configMap();
    assertThat(PlacementConfigMap.read(cm).version()).isEqualTo(2);
    assertThat(cm.getData()).containsEntry("notes.txt", "written concurrently"); // not overwritten
  }

  @Test
  void aVersionPublishedMeanwhileByAnotherWriterIsNeverOverwritten() throws Exception {
    load.set(skewed());
    var controller = controller();
    ConfigMap read = configMap();
    // e.g. an operator's `arrakis placement apply` of version 2 lands after the controller read
    // version 1
    List<Placement.Node> reversed = new ArrayList<>(V1.nodes());
    Collections.reverse(reversed);
    Placement theirs =
        new Placement(
            2,
            List.of(
                new Placement.Node("arrakis-expert-0", null, reversed.get(0).experts()),
                new Placement.Node("arrakis-expert-1", null, reversed.get(1).experts()),
                new Placement.Node("arrakis-expert-2", null, reversed.get(2).experts()),
                new Placement.Node("arrakis-expert-3", null, reversed.get(3).experts())));
    new PlacementPublisher(client, NS, NAME).publish(theirs);
    server.expect().get().withPath(PATH).andReturn(200, read).once();

    time.timePasses(INTERVAL);
    assertThat(awaitRounds(controller, 1).lastDecision())
        .startsWith("publishing version 2 failed")
        .contains("already holds a different placement version 2");
    assertThat(placement()).isEqualTo(theirs);

    // the next round plans from their version 2 (still skewed: experts 0 and 1 now both on pod 3)
    time.timePasses(INTERVAL);
    assertThat(awaitRounds(controller, 2).published()).isEqualTo(3);
    Placement v3 = placement();
    assertThat(v3.version()).isEqualTo(3);
    v3.checkCovers(LAYERS, EXPERTS);
    assertThat(Balance.of(v3, loads(skewed())).mean())
        .isLessThan(Balance.of(theirs, loads(skewed())).mean());
  }

  private ConfigMap configMap() {
    return client.configMaps().inNamespace(NS).withName(NAME).get();
  }

  private Placement placement() {
    return PlacementConfigMap.read(configMap());
  }

  private PlacementController.Status status(ActorRef<PlacementController.Command> controller) {
    TestProbe<PlacementController.Status> probe = kit.createTestProbe();
    controller.tell(new PlacementController.GetStatus(probe.getRef()));
    return probe.receiveMessage();
  }

  /**
   * The status once {@code rounds} rounds are done; rounds run on real threads (API calls), time
   * stands still.
   */
  private PlacementController.Status awaitRounds(
      ActorRef<PlacementController.Command> controller, int rounds) throws InterruptedException {
    AtomicReference<PlacementController.Status> last = new AtomicReference<>();
    eventually(
        rounds + " re-planning rounds done",
        Duration.ofSeconds(20),
        () -> {
          last.set(status(controller));
          return last.get().rounds() >= rounds;
        });
    assertThat(last.get().rounds())
        .as("rounds (one too many means a round nobody asked for)")
        .isEqualTo(rounds);
    return last.get();
  }

  /** Methods of the requests for the placement ConfigMap since the last call, in order. */
  private List<String> requests() throws InterruptedException {
    return recorded().stream().map(RecordedRequest::getMethod).toList();
  }

  /** Writes of the placement ConfigMap since the last call. */
  private List<RecordedRequest> writes() throws InterruptedException {
    return recorded().stream().filter(r -> !r.getMethod().equals("GET")).toList();
  }

  private List<RecordedRequest> recorded() throws InterruptedException {
    List<RecordedRequest> out = new ArrayList<>();
    for (RecordedRequest r = server.takeRequest(100, TimeUnit.MILLISECONDS);
        r != null;
        r = server.takeRequest(100, TimeUnit.MILLISECONDS)) {
      if (r.getPath().equals(PATH)) {
        out.add(r);
      }
    }
    return out;
  }

  private void drainRequests() throws InterruptedException {
    recorded();
  }

  /** Experts 0 and 1 of each layer take ten times the tokens of the others. */
  private static Map<ExpertId, Long> skewed() {
    Map<ExpertId, Long> m = new TreeMap<>();
    for (int layer : LAYERS) {
      for (int e = 0; e < EXPERTS; e++) {
        m.put(new ExpertId(layer, e), e < 2 ? 5000L : 500L);
      }
    }
    return m;
  }

  /** Slightly uneven: moving experts could gain under 5%. */
  private static Map<ExpertId, Long> nearlyEven() {
    Map<ExpertId, Long> m = new TreeMap<>();
    for (int layer : LAYERS) {
      for (int e = 0; e < EXPERTS; e++) {
        m.put(new ExpertId(layer, e), 1000L + e);
      }
    }
    return m;
  }

  private static Loads loads(Map<ExpertId, Long> tokens) {
    double[][] t = new double[LAYERS.size()][EXPERTS];
    tokens.forEach((e, n) -> t[LAYERS.indexOf(e.layer())][e.expert()] = n);
    return Loads.of(LAYERS, t);
  }
}
