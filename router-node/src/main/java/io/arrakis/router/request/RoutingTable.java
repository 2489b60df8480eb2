package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a request needs to be served under one placement version: the gate of each MoE layer, the
 * planner over this placement's holders and the dispatcher of each node. A new placement makes a
 * new table; requests already running keep theirs, and {@code active} counts them so that experts
 * the new placement drops are unloaded only once no request can still need them.
 */
public record RoutingTable(
    Placement placement,
    Map<Integer, Gate> gates,
    int hidden,
    DispatchPlanner planner,
    Map<String, ActorRef<NodeDispatcher.Command>> dispatchers,
    AtomicInteger active) {}
