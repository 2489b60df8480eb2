package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.RouterTelemetry;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The router's root actor: owns one {@link NodeDispatcher} per expert node of the current placement
 * and starts a {@link RequestCoordinator} per Forward call on the compute dispatcher, so that gating
 * and combining never run on Pekko's default dispatcher.
 */
public final class RouterGuardian extends AbstractBehavior<RouterGuardian.Command> {
  /** Dispatcher (from config) that runs coordinators and node dispatchers. */
  public static final String COMPUTE_DISPATCHER = "arrakis.router.compute-dispatcher";

  public sealed interface Command {}

  public record Forward(ForwardJob job, ActorRef<ForwardOutcome> replyTo) implements Command {}

  /** Switch to {@code placement} (already checked against the model); replies with the version now in use. */
  public record ApplyPlacement(Placement placement, ActorRef<Placement> replyTo) implements Command {}

  public record GetPlacement(ActorRef<Placement> replyTo) implements Command {}

  /** Everything the guardian needs that does not change with the placement. */
  public record Setup(Map<Integer, Gate> gates, int hidden, NodeDispatcher.Limits limits,
      Function<Placement.Node, ExpertClient> clients, RouterTelemetry telemetry) {}

  private final Setup setup;
  private final ReplicaLoad load = new ReplicaLoad();
  private final NodeHealth health = new NodeHealth();
  private final Map<String, ActorRef<NodeDispatcher.Command>> dispatchers = new HashMap<>();
  private final Map<String, String> addresses = new HashMap<>();
  private RoutingTable table;

  public static Behavior<Command> create(Setup setup, Placement initial) {
    return Behaviors.setup(ctx -> new RouterGuardian(ctx, setup, initial));
  }

  private RouterGuardian(ActorContext<Command> ctx, Setup setup, Placement initial) {
    super(ctx);
    this.setup = setup;
    apply(initial);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Forward.class, this::onForward)
        .onMessage(ApplyPlacement.class, this::onApplyPlacement)
        .onMessage(GetPlacement.class, m -> {
          m.replyTo().tell(table.placement());
          return this;
        })
        .build();
  }

  private Behavior<Command> onForward(Forward m) {
    getContext().spawnAnonymous(RequestCoordinator.create(m.job(), table, setup.telemetry(), m.replyTo()),
        DispatcherSelector.fromConfig(COMPUTE_DISPATCHER));
    return this;
  }

  private Behavior<Command> onApplyPlacement(ApplyPlacement m) {
    apply(m.placement());
    m.replyTo().tell(table.placement());
    return this;
  }

  /**
   * Keeps the dispatchers of nodes that stay at the same address, starts new ones, and drains the
   * ones whose node left (their queued work still completes).
   */
  private void apply(Placement placement) {
    Map<String, ActorRef<NodeDispatcher.Command>> next = new HashMap<>();
    for (Placement.Node node : placement.nodes()) {
      ActorRef<NodeDispatcher.Command> d = dispatchers.get(node.id());
      if (d == null || !String.valueOf(node.address()).equals(addresses.get(node.id()))) {
        d = getContext().spawnAnonymous(
            NodeDispatcher.create(node.id(), setup.clients().apply(node), setup.limits(), setup.hidden(),
                new NodeDispatcher.Shared(load, health, setup.telemetry())),
            DispatcherSelector.fromConfig(COMPUTE_DISPATCHER));
      }
      next.put(node.id(), d);
    }
    dispatchers.forEach((id, d) -> {
      if (next.get(id) != d) {
        d.tell(new NodeDispatcher.Drain());
      }
    });
    dispatchers.clear();
    dispatchers.putAll(next);
    addresses.clear();
    placement.nodes().forEach(n -> addresses.put(n.id(), String.valueOf(n.address())));
    table = new RoutingTable(placement, setup.gates(), setup.hidden(),
        new DispatchPlanner(placement.holdersByExpert(), load, health), Map.copyOf(next));
  }
}
