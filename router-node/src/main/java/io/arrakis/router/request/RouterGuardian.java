package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The router's root actor: owns one {@link NodeDispatcher} per expert node (and address) in use,
 * starts a {@link RequestCoordinator} per {@link LayerJob} on the compute dispatcher (gating and
 * combining never run on Pekko's default dispatcher) and rolls out new placements without failing
 * requests ({@link PlacementRollout}: load, switch, unload once the old placement is unused).
 *
 * <p>Each placement version in use is a generation: its routing table, the node links it routes to
 * and the requests still running under it, counted from the moment their coordinator is spawned
 * until it stops (death watch: told, never polled). A node that leaves the placement, or moves to
 * another address, keeps its dispatcher until no generation routes to it any more; then the
 * dispatcher drains and stops, its queue gauge goes with it and its connection is closed.
 */
public final class RouterGuardian extends AbstractBehavior<RouterGuardian.Command> {
  /** Dispatcher (from config) that runs coordinators and node dispatchers. */
  public static final String COMPUTE_DISPATCHER = "arrakis.router.compute-dispatcher";

  public sealed interface Command {}

  /** Fan one MoE layer's tokens out over the expert nodes; answered exactly once. */
  public record RunLayer(LayerJob job, ActorRef<LayerOutcome> replyTo) implements Command {}

  /** Roll out {@code placement} (already checked against the model). */
  public record ApplyPlacement(Placement placement, ActorRef<PlacementOutcome> replyTo)
      implements Command {}

  public record GetPlacement(ActorRef<Placement> replyTo) implements Command {}

  /** Which placement versions this router uses, for the other routers of its cluster. */
  public record GetVersions(ActorRef<Versions> replyTo) implements Command {}

  /**
   * The placement versions in use.
   *
   * @param current the version new requests are routed by
   * @param oldestInUse the oldest version a running request still uses ({@code current} when none
   *     is older)
   */
  public record Versions(long current, long oldestInUse) {}

  /**
   * The oldest placement version any other router of the cluster still uses (Long.MAX_VALUE when
   * there is no other router); nodes drop experts of a version only once this is past it.
   */
  public record PeersOldestInUse(long version) implements Command {}

  private record Loaded(
      Placement placement, Integer loaded, Throwable failure, ActorRef<PlacementOutcome> replyTo)
      implements Command {}

  private record RequestEnded(Generation generation) implements Command {}

  private record DispatcherStopped(NodeLinks.NodeLink link) implements Command {}

  /**
   * Everything the guardian needs that does not change with the placement.
   *
   * @param bf16Weights the model's weights are bfloat16 (bf16 hidden states then stay bf16 on the
   *     wire)
   * @param clustered whether other routers share the expert nodes: unloads then wait for {@link
   *     PeersOldestInUse}
   * @param shared the shared experts a Forward call's answer includes
   */
  public record Setup(
      Map<Integer, Gate> gates,
      int hidden,
      boolean bf16Weights,
      NodeDispatcher.Limits limits,
      RolloutSettings rollout,
      Function<Placement.Node, ExpertClient> clients,
      RouterTelemetry telemetry,
      boolean clustered,
      SharedExperts shared) {}

  /** One placement version in use: its table, its nodes' links, its running requests. */
  private static final class Generation {
    final RoutingTable table;
    final Map<String, NodeLinks.NodeLink> links;
    int running;

    /** What its nodes drop once it retires; set when a newer generation replaces it. */
    Map<String, List<ExpertId>> dropped = Map.of();

    Generation(RoutingTable table, Map<String, NodeLinks.NodeLink> links) {
      this.table = table;
      this.links = links;
    }

    long version() {
      return table.placement().version();
    }
  }

  private final Setup setup;
  private final ReplicaLoad load = new ReplicaLoad();
  private final NodeHealth health = new NodeHealth();
  private final PlacementRollout rollout;
  private final NodeLinks links;
  private final List<Generation> retiring = new ArrayList<>();
  private Generation current;

  public static Behavior<Command> create(Setup setup, Placement initial) {
    return Behaviors.setup(ctx -> new RouterGuardian(ctx, setup, initial));
  }

  private RouterGuardian(ActorContext<Command> ctx, Setup setup, Placement initial) {
    super(ctx);
    this.setup = setup;
    this.rollout = new PlacementRollout(setup.rollout(), setup.clustered());
    NodeDispatcher.Shared shared = new NodeDispatcher.Shared(load, health, setup.telemetry());
    this.links =
        new NodeLinks(
            ctx,
            setup.clients(),
            (nodeId, client) ->
                NodeDispatcher.create(nodeId, client, setup.limits(), setup.hidden(), shared),
            DispatcherStopped::new);
    this.current = generation(initial);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(RunLayer.class, this::onRunLayer)
        .onMessage(RequestEnded.class, this::onRequestEnded)
        .onMessage(ApplyPlacement.class, this::onApplyPlacement)
        .onMessage(Loaded.class, this::onLoaded)
        .onMessage(DispatcherStopped.class, this::onDispatcherStopped)
        .onMessage(
            GetPlacement.class,
            m -> {
              m.replyTo().tell(current.table.placement());
              return this;
            })
        .onMessage(
            GetVersions.class,
            m -> {
              m.replyTo().tell(versions());
              return this;
            })
        .onMessage(
            PeersOldestInUse.class,
            m -> {
              rollout.peersOldestInUse(m.version());
              return retireWhatIsDone();
            })
        .build();
  }

  /**
   * The request counts under the current generation from now until its coordinator stops, however
   * it stops.
   */
  private Behavior<Command> onRunLayer(RunLayer m) {
    Generation g = current;
    ActorRef<RequestCoordinator.Command> coordinator =
        getContext()
            .spawnAnonymous(
                RequestCoordinator.create(
                    m.job(), g.table, setup.telemetry(), setup.shared(), m.replyTo()),
                DispatcherSelector.fromConfig(COMPUTE_DISPATCHER));
    g.running++;
    setup.telemetry().requestStarted();
    getContext().watchWith(coordinator, new RequestEnded(g));
    return this;
  }

  private Behavior<Command> onRequestEnded(RequestEnded m) {
    m.generation().running--;
    setup.telemetry().requestFinished();
    return m.generation() == current ? this : retireWhatIsDone();
  }

  /** Step 1: every node loads what it will newly hold; routing stays as it is meanwhile. */
  private Behavior<Command> onApplyPlacement(ApplyPlacement m) {
    Status refusal = rollout.refusal(current.table.placement(), m.placement());
    if (refusal != null) {
      m.replyTo().tell(new PlacementOutcome.Refused(refusal));
      return this;
    }
    getContext()
        .pipeToSelf(
            rollout.load(current.table.placement(), m.placement(), node -> links.of(node).client()),
            (loaded, failure) -> new Loaded(m.placement(), loaded, failure, m.replyTo()));
    return this;
  }

  /**
   * Step 2: switch; step 3 (unloading, letting go of nodes) waits for the old generation's
   * requests.
   */
  private Behavior<Command> onLoaded(Loaded m) {
    rollout.loadsEnded();
    if (m.failure() != null) {
      Throwable cause = m.failure() instanceof CompletionException c ? c.getCause() : m.failure();
      m.replyTo()
          .tell(
              new PlacementOutcome.Refused(
                  Status.UNAVAILABLE.withDescription(
                      "placement version "
                          + m.placement().version()
                          + " not applied: "
                          + cause.getMessage())));
      releaseUnusedLinks(); // links made for nodes of the placement that was not applied
      return this;
    }
    Generation old = current;
    old.dropped = PlacementRollout.dropped(old.table.placement(), m.placement());
    current = generation(m.placement());
    retiring.add(old);
    int unloading = old.dropped.values().stream().mapToInt(List::size).sum();
    getContext()
        .getLog()
        .info(
            "placement version {} in use ({} experts loaded, {} to unload)",
            m.placement().version(),
            m.loaded(),
            unloading);
    m.replyTo().tell(new PlacementOutcome.Applied(m.placement().version(), m.loaded(), unloading));
    return retireWhatIsDone();
  }

  /** Step 3 for every old generation no request and no other router uses any more. */
  private Behavior<Command> retireWhatIsDone() {
    boolean retired =
        retiring.removeIf(
            g -> {
              if (g.running > 0 || !rollout.peersPast(g.version())) {
                return false;
              }
              rollout.unload(
                  g.dropped,
                  current.table.placement(),
                  id -> {
                    NodeLinks.NodeLink l = g.links.get(id);
                    return l == null ? null : l.client();
                  },
                  getContext().getLog());
              return true;
            });
    if (retired) {
      releaseUnusedLinks();
    }
    return this;
  }

  /** Drains the dispatchers no generation routes to; each stops once its work is done. */
  private void releaseUnusedLinks() {
    List<NodeLinks.NodeLink> used = new ArrayList<>(current.links.values());
    retiring.forEach(g -> used.addAll(g.links.values()));
    links.releaseAllBut(used);
  }

  private Behavior<Command> onDispatcherStopped(DispatcherStopped m) {
    links.stopped(m.link());
    return this;
  }

  private Versions versions() {
    long oldest = current.version();
    for (Generation g : retiring) {
      if (g.running > 0) {
        oldest = Math.min(oldest, g.version());
      }
    }
    return new Versions(current.version(), oldest);
  }

  private Generation generation(Placement placement) {
    Map<String, NodeLinks.NodeLink> used = new HashMap<>();
    Map<String, ActorRef<NodeDispatcher.Command>> dispatchers = new HashMap<>();
    for (Placement.Node node : placement.nodes()) {
      NodeLinks.NodeLink l = links.of(node);
      used.put(node.id(), l);
      dispatchers.put(node.id(), l.dispatcher());
    }
    RoutingTable table =
        new RoutingTable(
            placement,
            setup.gates(),
            setup.hidden(),
            new DispatchPlanner(placement.holdersByExpert(), load, health),
            Map.copyOf(dispatchers),
            setup.bf16Weights());
    return new Generation(table, Map.copyOf(used));
  }
}
