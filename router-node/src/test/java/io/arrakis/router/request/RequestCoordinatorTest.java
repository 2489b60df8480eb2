package io.arrakis.router.request;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.LoadStats;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One request's coordinator with test probes in place of the node dispatchers: it answers exactly
 * once on every path, whatever its dispatchers (or its own code) do.
 */
class RequestCoordinatorTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static TinyModel tiny;

  final Map<String, TestProbe<NodeDispatcher.Command>> nodes = new HashMap<>();
  final TestProbe<LayerOutcome> client = testKit.createTestProbe();
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final RouterTelemetry telemetry = new RouterTelemetry(registry, new LoadStats(Clock.systemUTC()));

  @BeforeAll
  static void open() throws Exception {
    tiny = new TinyModel();
  }

  @AfterAll
  static void stop() throws Exception {
    testKit.shutdownTestKit();
    tiny.close();
  }

  RoutingTable table(Strategies.Kind kind, int nodeCount, int replicas) {
    Placement p =
        Strategies.place(
            kind, nodeCount, replicas, tiny.model.moeLayers(), tiny.model.config().numExperts());
    Map<String, ActorRef<NodeDispatcher.Command>> refs = new HashMap<>();
    for (Placement.Node n : p.nodes()) {
      TestProbe<NodeDispatcher.Command> probe = testKit.createTestProbe();
      nodes.put(n.id(), probe);
      refs.put(n.id(), probe.ref());
    }
    return new RoutingTable(
        p,
        tiny.gates,
        64,
        new DispatchPlanner(p.holdersByExpert(), new ReplicaLoad(), new NodeHealth()),
        Map.copyOf(refs),
        false);
  }

  LayerJob job(Tensor hidden, Duration deadline) {
    return job(hidden, deadline, Cancellation.none());
  }

  LayerJob job(Tensor hidden, Duration deadline, Cancellation cancellation) {
    long now = System.nanoTime();
    return new LayerJob(
        "t",
        0,
        hidden,
        (int) hidden.getShape(0),
        now + deadline.toNanos(),
        now,
        cancellation,
        null);
  }

  static Tensor request(int tokens) {
    return TensorCodec.encodeFloat(Arrays.copyOf(tiny.x, tokens * 64), tokens, 64);
  }

  NodeDispatcher.Submit submitted(String node) {
    return nodes.get(node).expectMessageClass(NodeDispatcher.Submit.class);
  }

  /** The first slice any node was sent. */
  NodeDispatcher.Submit anySubmitted() {
    long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
    while (System.nanoTime() < deadline) {
      for (TestProbe<NodeDispatcher.Command> n : nodes.values()) {
        try {
          return n.expectMessageClass(NodeDispatcher.Submit.class, Duration.ofMillis(20));
        } catch (AssertionError e) {
          // not this one (yet)
        }
      }
    }
    throw new AssertionError("no node was sent a slice");
  }

  void spawn(LayerJob job, RoutingTable table) {
    testKit.spawn(
        RequestCoordinator.create(job, table, telemetry, SharedExperts.NONE, client.ref()));
  }

  /**
   * A node answering with too few bytes makes the combining step throw: the client still gets one
   * answer.
   */
  @Test
  void anExceptionWhileCombiningAnswersTheClientOnceWithInternal() {
    RoutingTable table = table(Strategies.Kind.CONTIGUOUS, 1, 1);
    spawn(job(request(4), Duration.ofSeconds(30)), table);
    NodeDispatcher.Submit s = submitted("expert-0");
    s.replyTo().tell(new NodeDispatcher.SliceDone(s.slice(), ByteString.copyFrom(new byte[4])));
    LayerOutcome outcome = client.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(3));
    assertThat(outcome)
        .isInstanceOfSatisfying(
            LayerOutcome.Failed.class,
            f -> assertThat(f.status().getCode()).isEqualTo(Status.Code.INTERNAL));
    client.expectNoMessage(Duration.ofMillis(200));
  }

  /** Hidden states whose bytes do not match their shape make decoding throw at the start. */
  @Test
  void anExceptionWhileStartingAnswersTheClientOnceWithInternal() {
    RoutingTable table = table(Strategies.Kind.CONTIGUOUS, 1, 1);
    Tensor bad = request(4).toBuilder().setData(ByteString.copyFrom(new byte[3])).build();
    spawn(job(bad, Duration.ofSeconds(30)), table);
    LayerOutcome outcome = client.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(3));
    assertThat(outcome)
        .isInstanceOfSatisfying(
            LayerOutcome.Failed.class,
            f -> assertThat(f.status().getCode()).isEqualTo(Status.Code.INTERNAL));
    client.expectNoMessage(Duration.ofMillis(200));
  }

  /** A full queue on one replica is no reason to fail a request another replica can serve. */
  @Test
  void aSliceRefusedForAFullQueueIsRetriedOnAnotherReplica() {
    RoutingTable table = table(Strategies.Kind.ROUND_ROBIN, 2, 2);
    spawn(job(request(1), Duration.ofSeconds(30)), table);
    // one token, every expert on both nodes: a single slice to one of them
    NodeDispatcher.Submit s = anySubmitted();
    String first = s.slice().nodeId();
    String other = first.equals("expert-0") ? "expert-1" : "expert-0";
    s.replyTo()
        .tell(
            new NodeDispatcher.SliceFailed(
                s.slice(),
                Status.RESOURCE_EXHAUSTED.withDescription(
                    "expert node " + first + " is at capacity")));
    NodeDispatcher.Submit retried = submitted(other);
    assertThat(retried.slice().attempt()).isEqualTo(1);
  }

  /**
   * A request whose deadline passed before its coordinator started costs no decoding, gating or
   * node call.
   */
  @Test
  void aRequestPastItsDeadlineIsAnsweredWithoutGatingOrDispatching() {
    RoutingTable table = table(Strategies.Kind.CONTIGUOUS, 2, 1);
    spawn(job(request(8), Duration.ofMillis(-1)), table);
    LayerOutcome outcome = client.expectMessageClass(LayerOutcome.class, Duration.ofSeconds(3));
    assertThat(outcome)
        .isInstanceOfSatisfying(
            LayerOutcome.Failed.class,
            f -> assertThat(f.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    nodes.values().forEach(n -> n.expectNoMessage(Duration.ofMillis(100)));
    assertThat(registry.find("arrakis_router_expert_tokens").counters())
        .as("tokens routed")
        .isEmpty();
  }
}
