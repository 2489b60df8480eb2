package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.placement.Placement;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.DispatchPlanner;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a request needs to be served under one placement version: the gate of each MoE layer, the
 * planner over this placement's holders and the dispatcher of each node. A new placement makes a
 * new table; requests already running keep theirs (the guardian counts them, so that experts the
 * new placement drops are unloaded, and nodes it leaves out let go, only once no request can still
 * need them).
 *
 * @param bf16Weights the model's weights are bfloat16: bf16 hidden states then stay bf16 on the
 *     wire
 */
record RoutingTable(
    Placement placement,
    Map<Integer, Gate> gates,
    int hidden,
    DispatchPlanner planner,
    Map<String, ActorRef<NodeDispatcher.Command>> dispatchers,
    boolean bf16Weights) {}
