package io.arrakis.router.request;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.dispatch.NodeDispatcher;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The guardian's links to expert nodes: one client and one {@link NodeDispatcher} per node and
 * address, made when a placement first names them, drained once no placement in use routes to them,
 * and closed when their dispatcher has stopped.
 */
final class NodeLinks {
  /** A node at one address: its client and dispatcher. */
  record NodeLink(
      String nodeId,
      String address,
      ExpertClient client,
      ActorRef<NodeDispatcher.Command> dispatcher) {}

  private final ActorContext<RouterGuardian.Command> ctx;
  private final Function<Placement.Node, ExpertClient> clients;
  private final BiFunction<String, ExpertClient, Behavior<NodeDispatcher.Command>> dispatchers;
  private final Function<NodeLink, RouterGuardian.Command> stopped;

  /** Live links by node id and address; a draining link is no longer here. */
  private final Map<String, NodeLink> live = new HashMap<>();

  /**
   * @param dispatchers the behavior of a node's dispatcher, by node id and client
   * @param stopped the message the guardian gets when a link's dispatcher has stopped
   */
  NodeLinks(
      ActorContext<RouterGuardian.Command> ctx,
      Function<Placement.Node, ExpertClient> clients,
      BiFunction<String, ExpertClient, Behavior<NodeDispatcher.Command>> dispatchers,
      Function<NodeLink, RouterGuardian.Command> stopped) {
    this.ctx = ctx;
    this.clients = clients;
    this.dispatchers = dispatchers;
    this.stopped = stopped;
  }

  /** The live link to a node at its address, made (client and dispatcher) when new. */
  NodeLink of(Placement.Node node) {
    return live.computeIfAbsent(
        key(node.id(), node.address()),
        k -> {
          ExpertClient client = clients.apply(node);
          // a dispatcher that throws starts afresh rather than leave the tables that route to it
          // pointing at nothing
          ActorRef<NodeDispatcher.Command> dispatcher =
              ctx.spawnAnonymous(
                  Behaviors.supervise(dispatchers.apply(node.id(), client))
                      .onFailure(SupervisorStrategy.restart()),
                  DispatcherSelector.fromConfig(RouterGuardian.COMPUTE_DISPATCHER));
          NodeLink l = new NodeLink(node.id(), node.address(), client, dispatcher);
          ctx.watchWith(dispatcher, stopped.apply(l));
          return l;
        });
  }

  /** Drains every live link not in {@code used}: its dispatcher finishes its work, then stops. */
  void releaseAllBut(Collection<NodeLink> used) {
    Set<NodeLink> keep = new HashSet<>(used);
    live.values()
        .removeIf(
            l -> {
              if (keep.contains(l)) {
                return false;
              }
              ctx.getLog()
                  .info(
                      "expert node {} at {} left the placement: draining its dispatcher",
                      l.nodeId(),
                      l.address());
              l.dispatcher().tell(new NodeDispatcher.Drain());
              return true;
            });
  }

  /** A link's dispatcher stopped: its connection closes. */
  void stopped(NodeLink link) {
    link.client().close();
    if (live.remove(key(link.nodeId(), link.address()), link)) {
      ctx.getLog().error("dispatcher of expert node {} stopped while in use", link.nodeId());
    }
  }

  private static String key(String nodeId, String address) {
    return nodeId + "@" + address;
  }
}
