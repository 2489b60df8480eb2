package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementVersions;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The router's root actor: owns one {@link NodeDispatcher} per expert node of the current placement,
 * starts a {@link RequestCoordinator} per Forward call on the compute dispatcher (gating and
 * combining never run on Pekko's default dispatcher), and rolls out new placements without failing
 * requests: nodes load what they newly hold, then the router switches, then, once no request under
 * the old placement is still running, nodes drop what they no longer hold. In a router cluster the
 * last step also waits until every other router is past the old placement ({@link PeersOldestInUse}),
 * since the routers switch one by one and a node must not drop an expert another router still sends it.
 */
public final class RouterGuardian extends AbstractBehavior<RouterGuardian.Command> {
  /** Dispatcher (from config) that runs coordinators and node dispatchers. */
  public static final String COMPUTE_DISPATCHER = "arrakis.router.compute-dispatcher";
  private static final Duration LOAD_TIMEOUT = Duration.ofSeconds(120);
  private static final Duration UNLOAD_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration RETIRE_CHECK = Duration.ofMillis(100);

  public sealed interface Command {}

  public record Forward(ForwardJob job, ActorRef<ForwardOutcome> replyTo) implements Command {}

  /** Roll out {@code placement} (already checked against the model). */
  public record ApplyPlacement(Placement placement, ActorRef<PlacementOutcome> replyTo) implements Command {}

  public record GetPlacement(ActorRef<Placement> replyTo) implements Command {}

  /** Which placement versions this router uses, for the other routers of its cluster. */
  public record GetVersions(ActorRef<Versions> replyTo) implements Command {}

  /**
   * @param current the version new requests are routed by
   * @param oldestInUse the oldest version a running request still uses ({@code current} when none is older)
   */
  public record Versions(long current, long oldestInUse) {}

  /**
   * The oldest placement version any other router of the cluster still uses (Long.MAX_VALUE when
   * there is no other router); nodes drop experts of a version only once this is past it.
   */
  public record PeersOldestInUse(long version) implements Command {}

  private record Loaded(Placement placement, int loaded, Throwable failure, ActorRef<PlacementOutcome> replyTo)
      implements Command {}

  private record CheckRetired() implements Command {}

  /**
   * Everything the guardian needs that does not change with the placement.
   *
   * @param clustered whether other routers share the expert nodes: unloads then wait for {@link PeersOldestInUse}
   */
  public record Setup(Map<Integer, Gate> gates, int hidden, NodeDispatcher.Limits limits,
      Function<Placement.Node, ExpertClient> clients, RouterTelemetry telemetry, boolean clustered) {}

  /** An old table and what to unload from which node once its last request is done. */
  private record Retiring(RoutingTable table, Map<String, List<ExpertId>> unload) {}

  private final Setup setup;
  private final TimerScheduler<Command> timers;
  private final ReplicaLoad load = new ReplicaLoad();
  private final NodeHealth health = new NodeHealth();
  private final Map<String, NodeLink> links = new HashMap<>();
  private final List<Retiring> retiring = new ArrayList<>();
  private RoutingTable table;
  private long rollingOutTo = -1;
  /** Until the first report, a clustered router assumes some other router still uses every version. */
  private long peersOldestInUse;

  /** A node's client and dispatcher, valid for one address. */
  private record NodeLink(String address, ExpertClient client, ActorRef<NodeDispatcher.Command> dispatcher) {}

  public static Behavior<Command> create(Setup setup, Placement initial) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new RouterGuardian(ctx, timers, setup, initial)));
  }

  private RouterGuardian(ActorContext<Command> ctx, TimerScheduler<Command> timers, Setup setup, Placement initial) {
    super(ctx);
    this.setup = setup;
    this.timers = timers;
    this.peersOldestInUse = setup.clustered() ? Long.MIN_VALUE : Long.MAX_VALUE;
    switchTo(initial);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Forward.class, this::onForward)
        .onMessage(ApplyPlacement.class, this::onApplyPlacement)
        .onMessage(Loaded.class, this::onLoaded)
        .onMessage(CheckRetired.class, this::onCheckRetired)
        .onMessage(GetPlacement.class, m -> {
          m.replyTo().tell(table.placement());
          return this;
        })
        .onMessage(GetVersions.class, m -> {
          m.replyTo().tell(versions());
          return this;
        })
        .onMessage(PeersOldestInUse.class, m -> {
          peersOldestInUse = m.version();
          return this;
        })
        .build();
  }

  private Behavior<Command> onForward(Forward m) {
    getContext().spawnAnonymous(RequestCoordinator.create(m.job(), table, setup.telemetry(), m.replyTo()),
        DispatcherSelector.fromConfig(COMPUTE_DISPATCHER));
    return this;
  }

  /** Step 1: every node loads what it will newly hold; routing stays as it is meanwhile. */
  private Behavior<Command> onApplyPlacement(ApplyPlacement m) {
    Placement next = m.placement();
    if (rollingOutTo >= 0) {
      m.replyTo().tell(new PlacementOutcome.Refused(Status.FAILED_PRECONDITION.withDescription(
          "a rollout to placement version " + rollingOutTo + " is in progress")));
      return this;
    }
    Optional<String> refusal = PlacementVersions.refusal(table.placement().version(), next.version());
    if (refusal.isPresent()) {
      m.replyTo().tell(new PlacementOutcome.Refused(Status.FAILED_PRECONDITION.withDescription(refusal.get())));
      return this;
    }
    rollingOutTo = next.version();
    Map<String, List<ExpertId>> current = table.placement().expertsByNode();
    List<CompletableFuture<Void>> loads = new ArrayList<>();
    int count = 0;
    for (Placement.Node node : next.nodes()) {
      List<ExpertId> added = new ArrayList<>(node.experts());
      added.removeAll(current.getOrDefault(node.id(), List.of()));
      if (!added.isEmpty()) {
        count += added.size();
        loads.add(link(node).client().load(added, LOAD_TIMEOUT).toCompletableFuture()
            .exceptionallyCompose(e -> CompletableFuture.failedFuture(new IllegalStateException(
                "expert node " + node.id() + " could not load " + added + ": " + Status.fromThrowable(e), e))));
      }
    }
    int loaded = count;
    getContext().pipeToSelf(CompletableFuture.allOf(loads.toArray(CompletableFuture[]::new)),
        (ok, failure) -> new Loaded(next, loaded, failure, m.replyTo()));
    return this;
  }

  /** Step 2: switch; step 3 (unloading) waits for the old table's requests. */
  private Behavior<Command> onLoaded(Loaded m) {
    rollingOutTo = -1;
    if (m.failure() != null) {
      Throwable cause = m.failure() instanceof java.util.concurrent.CompletionException c ? c.getCause() : m.failure();
      m.replyTo().tell(new PlacementOutcome.Refused(Status.UNAVAILABLE.withDescription(
          "placement version " + m.placement().version() + " not applied: " + cause.getMessage())));
      return this;
    }
    Map<String, List<ExpertId>> unload = new LinkedHashMap<>();
    Map<String, List<ExpertId>> next = m.placement().expertsByNode();
    table.placement().expertsByNode().forEach((id, held) -> {
      List<ExpertId> dropped = new ArrayList<>(held);
      dropped.removeAll(next.getOrDefault(id, List.of()));
      if (!dropped.isEmpty()) {
        unload.put(id, dropped);
      }
    });
    RoutingTable old = table;
    switchTo(m.placement());
    retiring.add(new Retiring(old, unload));
    timers.startTimerWithFixedDelay("retire", new CheckRetired(), RETIRE_CHECK);
    getContext().getLog().info("placement version {} in use ({} experts loaded, {} to unload)",
        m.placement().version(), m.loaded(), unload.values().stream().mapToInt(List::size).sum());
    m.replyTo().tell(new PlacementOutcome.Applied(m.placement().version(), m.loaded(),
        unload.values().stream().mapToInt(List::size).sum()));
    return this;
  }

  private Behavior<Command> onCheckRetired(CheckRetired m) {
    retiring.removeIf(r -> {
      if (r.table().active().get() > 0 || peersOldestInUse <= r.table().placement().version()) {
        return false;
      }
      Map<String, List<ExpertId>> stillHeld = table.placement().expertsByNode();
      r.unload().forEach((id, experts) -> {
        List<ExpertId> drop = new ArrayList<>(experts);
        drop.removeAll(stillHeld.getOrDefault(id, List.of())); // a later placement may hold them again
        NodeLink l = links.get(id);
        if (!drop.isEmpty() && l != null) {
          l.client().unload(drop, UNLOAD_TIMEOUT).whenComplete((ok, e) -> {
            if (e != null) {
              getContext().getSystem().log().warn("expert node {} did not unload {}: {}", id, drop, e.toString());
            }
          });
        }
      });
      return true;
    });
    if (retiring.isEmpty()) {
      timers.cancel("retire");
    }
    return this;
  }

  private Versions versions() {
    long oldest = table.placement().version();
    for (Retiring r : retiring) {
      if (r.table().active().get() > 0) {
        oldest = Math.min(oldest, r.table().placement().version());
      }
    }
    return new Versions(table.placement().version(), oldest);
  }

  /** The client and dispatcher for a node, new when the node or its address is new. */
  private NodeLink link(Placement.Node node) {
    NodeLink l = links.get(node.id());
    if (l == null || !Objects.equals(l.address(), node.address())) {
      if (l != null) {
        l.dispatcher().tell(new NodeDispatcher.Drain());
      }
      ExpertClient client = setup.clients().apply(node);
      l = new NodeLink(node.address(), client, getContext().spawnAnonymous(
          NodeDispatcher.create(node.id(), client, setup.limits(), setup.hidden(),
              new NodeDispatcher.Shared(load, health, setup.telemetry())),
          DispatcherSelector.fromConfig(COMPUTE_DISPATCHER)));
      links.put(node.id(), l);
    }
    return l;
  }

  private void switchTo(Placement placement) {
    Map<String, ActorRef<NodeDispatcher.Command>> dispatchers = new HashMap<>();
    for (Placement.Node node : placement.nodes()) {
      dispatchers.put(node.id(), link(node).dispatcher());
    }
    table = new RoutingTable(placement, setup.gates(), setup.hidden(),
        new DispatchPlanner(placement.holdersByExpert(), load, health), Map.copyOf(dispatchers), new AtomicInteger());
  }
}
