package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a request needs to be served under one placement version: the gate of each MoE layer, the
 * planner over this placement's holders and the dispatcher of each node. Immutable; a new placement
 * makes a new table, and requests already running keep theirs.
 */
public record RoutingTable(
    Placement placement,
    Map<Integer, Gate> gates,
    int hidden,
    DispatchPlanner planner,
    Map<String, ActorRef<NodeDispatcher.Command>> dispatchers) {}
