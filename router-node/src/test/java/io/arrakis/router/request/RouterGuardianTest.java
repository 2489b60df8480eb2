package io.arrakis.router.request;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.stats.LoadStats;
import io.arrakis.router.stats.RouterTelemetry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The router's guardian with real coordinators and node dispatchers over fake expert nodes:
 * rollouts never take from a request what it still needs, and what leaves the placement is stopped,
 * closed and forgotten.
 */
class RouterGuardianTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static TinyModel tiny;

  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final RouterTelemetry telemetry = new RouterTelemetry(registry, new LoadStats(Clock.systemUTC()));

  /** By address: a node that moves is a new node to the router. */
  final Map<String, FakeNode> nodes = new ConcurrentHashMap<>();

  @BeforeAll
  static void open() throws Exception {
    tiny = new TinyModel();
  }

  @AfterAll
  static void stop() throws Exception {
    testKit.shutdownTestKit();
    tiny.close();
  }

  ActorRef<RouterGuardian.Command> guardian(Placement initial) {
    NodeDispatcher.Limits limits =
        new NodeDispatcher.Limits(2, 4096).withHealthInterval(Duration.ofMillis(50));
    RouterGuardian.Setup setup =
        new RouterGuardian.Setup(
            tiny.gates,
            64,
            false,
            limits,
            new RolloutSettings(Duration.ofSeconds(30), Duration.ofSeconds(5)),
            n -> nodes.computeIfAbsent(n.address(), a -> new FakeNode(n)),
            telemetry,
            false,
            SharedExperts.NONE);
    ActorRef<RouterGuardian.Command> g = testKit.spawn(RouterGuardian.create(setup, initial));
    // the guardian makes its initial nodes' clients when it starts, on its own thread
    TestProbe<Placement> started = testKit.createTestProbe();
    g.tell(new RouterGuardian.GetPlacement(started.ref()));
    started.expectMessage(Duration.ofSeconds(10), initial);
    return g;
  }

  /**
   * Layer-0 experts 0-3 on the first node, 4-7 on the second (layer 1 likewise); or the other way
   * round.
   */
  static Placement split(long version, String firstAddress, boolean swapped) {
    List<ExpertId> low = new ArrayList<>();
    List<ExpertId> high = new ArrayList<>();
    for (int layer : List.of(0, 1)) {
      IntStream.range(0, 4).forEach(e -> low.add(new ExpertId(layer, e)));
      IntStream.range(4, 8).forEach(e -> high.add(new ExpertId(layer, e)));
    }
    return new Placement(
        version,
        List.of(
            new Placement.Node("expert-0", firstAddress, swapped ? high : low),
            new Placement.Node("expert-1", "b", swapped ? low : high)));
  }

  static LayerJob job(Duration deadline) {
    long now = System.nanoTime();
    return new LayerJob(
        "g",
        0,
        TensorCodec.encodeFloat(tiny.x, 32, 64),
        32,
        now + deadline.toNanos(),
        now,
        Cancellation.none(),
        null);
  }

  PlacementOutcome apply(ActorRef<RouterGuardian.Command> g, Placement p) {
    TestProbe<PlacementOutcome> probe = testKit.createTestProbe();
    g.tell(new RouterGuardian.ApplyPlacement(p, probe.ref()));
    return probe.expectMessageClass(PlacementOutcome.class, Duration.ofSeconds(10));
  }

  /**
   * A request the guardian has handed to a coordinator that has not started yet (its dispatcher's
   * threads are all busy) still counts under the old placement: the nodes must not unload what it
   * will need.
   */
  @Test
  void aRequestSpawnedBeforeARolloutKeepsItsExpertsUntilItIsAnswered() throws Exception {
    var g = guardian(split(1, "a", false));
    int threads =
        testKit
            .system()
            .settings()
            .config()
            .getInt(RouterGuardian.COMPUTE_DISPATCHER + ".thread-pool-executor.fixed-pool-size");
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch blocked = new CountDownLatch(threads);
    for (int i = 0; i < threads; i++) { // take every thread of the compute dispatcher
      ActorRef<String> blocker =
          testKit.spawn(
              Behaviors.receiveMessage(
                  m -> {
                    blocked.countDown();
                    release.await(30, TimeUnit.SECONDS);
                    return Behaviors.same();
                  }),
              "blocker-" + i,
              DispatcherSelector.fromConfig(RouterGuardian.COMPUTE_DISPATCHER));
      blocker.tell("block");
    }
    assertThat(blocked.await(10, TimeUnit.SECONDS)).isTrue();
    TestProbe<LayerOutcome> client = testKit.createTestProbe();
    g.tell(new RouterGuardian.RunLayer(job(Duration.ofSeconds(20)), client.ref()));
    assertThat(apply(g, split(2, "a", true))).isInstanceOf(PlacementOutcome.Applied.class);
    Thread.sleep(400); // the old guardian looked for retired tables every 100 ms
    release.countDown();
    LayerOutcome outcome = client.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(10));
    assertThat(outcome).isInstanceOf(LayerOutcome.Succeeded.class);
    // and once it has answered, the old placement's experts go
    FakeNode first = nodes.get("a");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (first.unloads.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(first.unloads).hasSize(1);
  }

  /**
   * An old placement retiring while a newer rollout is loading must not unload what that rollout
   * has just loaded: here version 3 moves expert 0:0 back to the first node, whose load is done,
   * while the second node still loads; meanwhile version 1's last request ends.
   */
  @Test
  void aRetiringPlacementDoesNotUnloadWhatARolloutInProgressLoaded() throws Exception {
    Placement v1 = split(1, "a", false);
    var g = guardian(v1);
    FakeNode first = nodes.get("a");
    FakeNode second = nodes.get("b");
    first.computeGate = new CompletableFuture<>(); // a request of version 1 stays running
    TestProbe<LayerOutcome> client = testKit.createTestProbe();
    g.tell(new RouterGuardian.RunLayer(job(Duration.ofSeconds(20)), client.ref()));
    Thread.sleep(200);
    ExpertId moved = new ExpertId(0, 0);
    assertThat(apply(g, moveTo(v1, 2, moved, "expert-1", null)))
        .isInstanceOf(PlacementOutcome.Applied.class);
    second.loadsDone =
        new CompletableFuture<>(); // version 3's load on the second node takes until the test says
    TestProbe<PlacementOutcome> rollout = testKit.createTestProbe();
    g.tell(
        new RouterGuardian.ApplyPlacement(
            moveTo(v1, 3, moved, "expert-0", new ExpertId(0, 3)), rollout.ref()));
    Thread.sleep(200); // the first node's load of 0:0 is done
    first.computeGate.complete(null); // version 1's request ends: version 1 retires
    assertThat(client.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(10)))
        .isInstanceOf(LayerOutcome.Succeeded.class);
    Thread.sleep(200);
    second.loadsDone.complete(null);
    assertThat(rollout.expectMessageClass(PlacementOutcome.class, Duration.ofSeconds(10)))
        .isInstanceOf(PlacementOutcome.Applied.class);
    assertThat(first.held).as("the first node's experts once version 3 is in use").contains(moved);
    TestProbe<LayerOutcome> after = testKit.createTestProbe();
    g.tell(new RouterGuardian.RunLayer(job(Duration.ofSeconds(5)), after.ref()));
    assertThat(after.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(10)))
        .isInstanceOf(LayerOutcome.Succeeded.class);
  }

  /**
   * {@code base} at {@code version} with {@code expert} moved to node {@code to} (off the other),
   * and {@code extra} (when not null) added to the other node as a replica.
   */
  static Placement moveTo(
      Placement base, long version, ExpertId expert, String to, ExpertId extra) {
    List<Placement.Node> nodes = new ArrayList<>();
    for (Placement.Node n : base.nodes()) {
      List<ExpertId> experts = new ArrayList<>(n.experts());
      experts.remove(expert);
      if (n.id().equals(to)) {
        experts.add(expert);
      } else if (extra != null && !experts.contains(extra)) {
        experts.add(extra);
      }
      nodes.add(new Placement.Node(n.id(), n.address(), experts));
    }
    return new Placement(version, nodes);
  }

  /**
   * While a rollout that moves a node to a new address loads experts, the current placement still
   * routes to the node's old dispatcher: requests served meanwhile must not find it stopped.
   */
  @Test
  void requestsDuringARolloutThatMovesANodeAreServedByItsOldAddress() throws Exception {
    var g = guardian(split(1, "a", false));
    // version 2: the first node restarted at a new address (holding its experts again) and takes a
    // replica of 0:4
    Placement.Node first = split(2, "a2", false).nodes().get(0);
    List<ExpertId> more = new ArrayList<>(first.experts());
    more.add(new ExpertId(0, 4));
    Placement v2 =
        new Placement(
            2,
            List.of(
                new Placement.Node("expert-0", "a2", more), split(2, "a2", false).nodes().get(1)));
    FakeNode moved = new FakeNode(first);
    moved.loadsDone = new CompletableFuture<>(); // its load of 0:4 takes until the test says
    nodes.put("a2", moved);
    TestProbe<PlacementOutcome> rollout = testKit.createTestProbe();
    g.tell(new RouterGuardian.ApplyPlacement(v2, rollout.ref()));
    TestProbe<LayerOutcome> client = testKit.createTestProbe();
    g.tell(new RouterGuardian.RunLayer(job(Duration.ofSeconds(3)), client.ref()));
    LayerOutcome outcome = client.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(5));
    assertThat(outcome).isInstanceOf(LayerOutcome.Succeeded.class);
    moved.loadsDone.complete(null);
    assertThat(rollout.expectMessageClass(PlacementOutcome.class, Duration.ofSeconds(10)))
        .isInstanceOf(PlacementOutcome.Applied.class);
    TestProbe<LayerOutcome> after = testKit.createTestProbe();
    g.tell(new RouterGuardian.RunLayer(job(Duration.ofSeconds(3)), after.ref()));
    assertThat(after.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(5)))
        .isInstanceOf(LayerOutcome.Succeeded.class);
    assertThat(moved.computeCalls.get()).as("calls to the node at its new address").isPositive();
  }

  /**
   * A node that leaves the placement: once nothing routes to it, its dispatcher stops and its gauge
   * goes.
   */
  @Test
  void aNodeLeavingThePlacementIsStoppedAndUnregisteredOnceNothingRoutesToIt() throws Exception {
    Placement two = split(1, "a", false);
    var g = guardian(two);
    List<ExpertId> all = new ArrayList<>();
    two.nodes().forEach(n -> all.addAll(n.experts()));
    Placement one = new Placement(2, List.of(new Placement.Node("expert-0", "a", all)));
    assertThat(apply(g, one)).isInstanceOf(PlacementOutcome.Applied.class);
    FakeNode leaving = nodes.get("b");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (registry.find("arrakis_router_node_queue_depth").tag("node", "expert-1").gauges().size()
            > 0
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(registry.find("arrakis_router_node_queue_depth").tag("node", "expert-1").gauges())
        .as("queue gauge of the node that left")
        .isEmpty();
    int checks = leaving.healthChecks.get();
    Thread.sleep(300); // six health-check intervals
    assertThat(leaving.healthChecks.get())
        .as("health checks of the node that left")
        .isEqualTo(checks);
    assertThat(leaving.closed).as("connection to the node that left closed").isTrue();
    assertThat(nodes.get("a").closed).isFalse();
    assertThat(registry.find("arrakis_router_node_queue_depth").tag("node", "expert-0").gauges())
        .hasSize(1);
  }
}
