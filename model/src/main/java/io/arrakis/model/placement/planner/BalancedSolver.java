package io.arrakis.model.placement.planner;

/**
 * The {@code balanced} strategy for one layer: local search ({@link LocalSearch}) from two starts,
 * keeping the better (the first on a tie):
 *
 * <ol>
 *   <li>EPLB's replica counts capped at one per node, packed heaviest first onto distinct nodes;
 *   <li>EPLB's own result, a node holding an expert once where EPLB put two replicas there.
 * </ol>
 *
 * Starting from EPLB and only ever lowering the max node load is what makes the result at least as
 * good as EPLB's placement; the count-changing moves of the search are where it does better.
 */
final class BalancedSolver {
  private BalancedSolver() {}

  static LayerState solve(double[] weight, int nodes, int slots, int budget, long work) {
    LayerState first =
        Packing.packDistinct(
            weight, Packing.replicaCounts(weight, budget, nodes), nodes, slots, budget);
    LocalSearch.improve(first, work);
    LayerState second =
        LayerState.of(
            weight,
            slots,
            budget,
            EplbBaseline.layer(0, weight, nodes, slots, budget).holds(weight.length));
    LocalSearch.improve(second, work);
    return second.maxLoad() < first.maxLoad() ? second : first;
  }
}
