package io.arrakis.model.placement.planner;

import io.arrakis.model.placement.Placement;
import java.util.Optional;

/**
 * What {@link Planner#plan} produced.
 *
 * @param placement the new placement (nodes {@code expert-0..N-1})
 * @param strategy how it was made
 * @param balance its predicted balance under the loads it was planned from
 * @param currentBalance the current placement's balance under the same loads, when one was given
 *     and it holds every expert that carried tokens
 * @param bound a lower bound no placement with these nodes, slots and replicas can beat
 * @param moved (expert, node) pairs the new placement has and the current lacks: the expert loads a
 *     rollout performs (every pair when there is no current placement)
 * @param dropped pairs the current placement has and the new one lacks
 */
public record Plan(
    Placement placement,
    Strategy strategy,
    Balance balance,
    Optional<Balance> currentBalance,
    Balance bound,
    int moved,
    int dropped) {}
