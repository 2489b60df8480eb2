package io.arrakis.router.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.placement.planner.Balance;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.ManualTime;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The placement controller on manual time: it re-plans each interval and publishes only what is
 * worth a rollout.
 */
class PlacementControllerTest {
  private static final List<Integer> LAYERS = List.of(0, 1);
  private static final int EXPERTS = 8;
  private static final Duration INTERVAL = Duration.ofSeconds(30);
  private static final double THRESHOLD = 0.05;

  private ActorTestKit kit;
  private ManualTime time;
  private final AtomicReference<Map<ExpertId, Long>> load = new AtomicReference<>(Map.of());
  private final InMemorySink sink = new InMemorySink();

  /** Holds the placement in force like the ConfigMap does; records what is published. */
  static final class InMemorySink implements PlacementSink {
    volatile Placement current;
    volatile Map<String, String> nodes;
    final List<Placement> published = new CopyOnWriteArrayList<>();
    final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    @Override
    public CompletionStage<Target> target() {
      return CompletableFuture.completedFuture(new Target(current, nodes));
    }

    @Override
    public CompletionStage<?> publish(Placement next) {
      published.add(next);
      current = next;
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public void onNodesChanged(Runnable listener) {
      listeners.add(listener);
    }

    void nodesChange(Map<String, String> now) {
      nodes = now;
      listeners.forEach(Runnable::run);
    }
  }

  @BeforeEach
  void start() {
    kit = ActorTestKit.create(ManualTime.config().withFallback(ConfigFactory.load()));
    time = ManualTime.get(kit.system());
    // 4 nodes x 2 experts per layer, one copy each: no spare slot, so only moving experts can help
    sink.current = addressed(Strategies.place(Strategies.Kind.CONTIGUOUS, 4, 1, LAYERS, EXPERTS));
    sink.nodes = addresses(sink.current);
  }

  @AfterEach
  void stop() {
    kit.shutdownTestKit();
  }

  private ActorRef<PlacementController.Command> controller() {
    return kit.spawn(
        PlacementController.create(
            new PlacementController.Setup(
                new ClusterSettings.ControllerSettings(
                    INTERVAL, THRESHOLD, 0, Duration.ofSeconds(10)),
                load::get,
                sink,
                LAYERS,
                EXPERTS,
                Runnable::run)));
  }

  private PlacementController.Status awaitRounds(
      ActorRef<PlacementController.Command> controller, int rounds) {
    TestProbe<PlacementController.Status> probe = kit.createTestProbe();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      controller.tell(new PlacementController.GetStatus(probe.getRef()));
      PlacementController.Status s = probe.receiveMessage();
      if (s.rounds() >= rounds || System.nanoTime() > deadline) {
        return s;
      }
      Thread.yield();
    }
  }

  @Test
  void publishesABetterPlacementOnceTheIntervalHasPassedAndNotBefore() {
    // experts 0 and 1 of each layer take most tokens, and contiguous placement put both on expert-0
    load.set(skewed());
    var controller = controller();

    time.timePasses(INTERVAL.minusMillis(1));
    assertThat(awaitRounds(controller, 0).rounds()).isZero();
    assertThat(sink.published).isEmpty();

    time.timePasses(Duration.ofMillis(1));
    PlacementController.Status status = awaitRounds(controller, 1);
    assertThat(status.published()).isEqualTo(2);
    assertThat(sink.published).hasSize(1);
    Placement next = sink.published.get(0);
    assertThat(next.version()).isEqualTo(2);
    next.checkCovers(LAYERS, EXPERTS);
    var loads = Replan.loads(skewed(), LAYERS, EXPERTS);
    double before =
        Balance.of(
                addressed(Strategies.place(Strategies.Kind.CONTIGUOUS, 4, 1, LAYERS, EXPERTS)),
                loads)
            .mean();
    double after = Balance.of(next, loads).mean();
    assertThat(after).isLessThan(before * (1 - THRESHOLD));
    assertThat(next.nodes())
        .extracting(Placement.Node::address)
        .containsExactly("h0:1", "h1:1", "h2:1", "h3:1");

    // the next interval finds nothing better to do under the same load
    time.timePasses(INTERVAL);
    status = awaitRounds(controller, 2);
    assertThat(status.lastDecision()).startsWith("kept");
    assertThat(sink.published).hasSize(1);
  }

  @Test
  void keepsThePlacementWhenTheImprovementIsBelowTheThreshold() {
    // every expert carries the same load: contiguous placement is already perfectly balanced
    Map<ExpertId, Long> even = new TreeMap<>();
    for (int layer : LAYERS) {
      for (int e = 0; e < EXPERTS; e++) {
        even.put(new ExpertId(layer, e), 1000L + e); // slight skew: under 5% to gain
      }
    }
    load.set(even);
    var controller = controller();
    time.timePasses(INTERVAL);
    PlacementController.Status status = awaitRounds(controller, 1);
    assertThat(status.lastDecision()).startsWith("kept").contains("threshold 5.0%");
    assertThat(sink.published).isEmpty();
  }

  @Test
  void aNewExpertNodeJoinsTheNextPlacementAtOnce() {
    load.set(skewed()); // the new node's spare slots take copies of the hot experts
    var controller = controller();
    awaitRounds(controller, 0);
    Map<String, String> nodes = new LinkedHashMap<>(sink.nodes);
    nodes.put("expert-4", "h4:1");
    sink.nodesChange(nodes); // no interval has passed: the change itself starts a round

    PlacementController.Status status = awaitRounds(controller, 1);
    assertThat(status.published()).isEqualTo(2);
    Placement next = sink.published.get(0);
    next.checkCovers(LAYERS, EXPERTS);
    assertThat(next.node("expert-4").experts()).isNotEmpty();
    assertThat(next.node("expert-4").address()).isEqualTo("h4:1");
  }

  @Test
  void aLeavingExpertNodeIsTakenOutWithItsExpertsMovedElsewhere() {
    load.set(skewed());
    var controller = controller();
    awaitRounds(controller, 0);
    Map<String, String> nodes = new LinkedHashMap<>(sink.nodes);
    nodes.remove("expert-3");
    sink.nodesChange(nodes);

    awaitRounds(controller, 1);
    Placement next = sink.published.get(0);
    assertThat(next.nodes())
        .extracting(Placement.Node::id)
        .containsExactly("expert-0", "expert-1", "expert-2");
    next.checkCovers(LAYERS, EXPERTS); // expert-3's experts live on elsewhere
    // slots grew to fit: 8 experts on 3 nodes need 3 per node and layer
    Set<ExpertId> held = new HashSet<>();
    next.nodes().forEach(n -> held.addAll(n.experts()));
    assertThat(held).hasSize(LAYERS.size() * EXPERTS);
  }

  private static Map<ExpertId, Long> skewed() {
    Map<ExpertId, Long> m = new TreeMap<>();
    for (int layer : LAYERS) {
      for (int e = 0; e < EXPERTS; e++) {
        m.put(new ExpertId(layer, e), e < 2 ? 5000L : 500L);
      }
    }
    return m;
  }

  private static Placement addressed(Placement p) {
    List<Placement.Node> nodes = new ArrayList<>();
    for (int i = 0; i < p.nodes().size(); i++) {
      nodes.add(p.nodes().get(i).withAddress("h" + i + ":1"));
    }
    return new Placement(1, nodes);
  }

  private static Map<String, String> addresses(Placement p) {
    Map<String, String> m = new LinkedHashMap<>();
    p.nodes().forEach(n -> m.put(n.id(), n.address()));
    return m;
  }
}
