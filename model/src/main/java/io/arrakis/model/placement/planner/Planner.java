package io.arrakis.model.placement.planner;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Plans a placement of every MoE layer's experts on N nodes with S expert slots each per layer.
 *
 * <ul>
 *   <li>{@code contiguous} and {@code round-robin} place one copy of each expert (as {@link
 *       Strategies} with one replica) and leave spare slots empty: without loads there is nothing
 *       to tell which expert deserves a copy, and blind copies would only add rollout work. With a
 *       current placement they still produce their fixed layout; the moves are reported.
 *   <li>{@code balanced} works per layer ({@link BalancedSolver}): replicas of hot experts fill the
 *       spare slots (up to the replica budget, by default all N×S), one per node, so that the most
 *       loaded node carries as little as possible. Given a current placement it then keeps experts
 *       where they are when that costs no balance: it also searches from the current layout, gives
 *       the solution's node sets to the nodes that overlap them most, and swaps experts back to
 *       their old nodes where no node ends above the layer's max load.
 * </ul>
 *
 * Pure computation; deterministic for given inputs.
 */
public final class Planner {
  private Planner() {}

  /**
   * What to plan and how much search to spend on it.
   *
   * @param replicasPerLayer total expert replicas per layer for {@code balanced} (empty: every
   *     slot, N×S); the fixed strategies always place one copy of each expert
   * @param searchWorkPerLayer bound on the candidate moves one local search evaluates, per layer
   *     (the planner runs two searches per layer, five with a current placement), so the work is
   *     bounded whatever the input; the default (10⁸, about half a second) is over 100 times what
   *     any case of the grid needs
   * @param balanceSlack with a current placement: how much higher (relative) a layer's max node
   *     load may be than the best found, to move fewer experts. 0 (the default) never trades
   *     balance for moves; 0.001 accepts 0.1%, below the sampling noise of most load windows (in
   *     bench/planner.md's drift test it cuts the moves from 151 to 62 of 672 placements)
   */
  public record Options(
      OptionalInt replicasPerLayer, long searchWorkPerLayer, double balanceSlack) {
    public static final long DEFAULT_SEARCH_WORK = 100_000_000L;

    public Options {
      if (searchWorkPerLayer < 0) {
        throw new IllegalArgumentException("search work must be >= 0, got " + searchWorkPerLayer);
      }
      if (!(balanceSlack >= 0) || balanceSlack > 1) {
        throw new IllegalArgumentException("balance slack must be in [0, 1], got " + balanceSlack);
      }
    }

    public static Options defaults() {
      return new Options(OptionalInt.empty(), DEFAULT_SEARCH_WORK, 0);
    }

    public Options withReplicasPerLayer(int replicas) {
      return new Options(OptionalInt.of(replicas), searchWorkPerLayer, balanceSlack);
    }

    public Options withBalanceSlack(double slack) {
      return new Options(replicasPerLayer, searchWorkPerLayer, slack);
    }

    int budget(int nodes, int slots) {
      return replicasPerLayer.orElse((int) Math.min(Integer.MAX_VALUE, (long) nodes * slots));
    }
  }

  /**
   * {@link #plan(Loads, int, int, Strategy, Optional, Options)} with {@link Options#defaults()}.
   */
  public static Plan plan(
      Loads loads, int nodes, int slotsPerNode, Strategy strategy, Optional<Placement> current) {
    return plan(loads, nodes, slotsPerNode, strategy, current, Options.defaults());
  }

  /**
   * Plans every layer of {@code loads} on nodes {@code expert-0..nodes−1} with {@code slotsPerNode}
   * expert slots each per layer. The placement's version is the current one's + 1, or 1; nodes keep
   * the addresses the current placement gives their ids.
   *
   * @throws IllegalArgumentException when nodes × slots cannot hold every expert of a layer, or the
   *     replica budget is outside [experts, nodes × slots]; the message says what to change
   */
  public static Plan plan(
      Loads loads,
      int nodes,
      int slotsPerNode,
      Strategy strategy,
      Optional<Placement> current,
      Options options) {
    int experts = loads.numExperts();
    int budget = options.budget(nodes, slotsPerNode);
    checkShape(experts, nodes, slotsPerNode, budget);
    long version = current.map(p -> p.version() + 1).orElse(1L);
    Placement placement =
        switch (strategy) {
          case CONTIGUOUS, ROUND_ROBIN -> fixed(strategy, loads, nodes, version);
          case BALANCED ->
              balanced(
                  loads,
                  nodes,
                  slotsPerNode,
                  budget,
                  current,
                  options.searchWorkPerLayer(),
                  options.balanceSlack(),
                  version);
        };
    placement = keepAddresses(placement, current);
    return new Plan(
        placement,
        strategy,
        Balance.of(placement, loads),
        current.flatMap(c -> Balance.ofIfCovers(c, loads)),
        Balance.lowerBound(loads, nodes, slotsPerNode, budget),
        moved(current.orElse(new Placement(0, List.of())), placement),
        moved(placement, current.orElse(new Placement(0, List.of()))));
  }

  /** Refuses shapes no placement satisfies, saying what to change. */
  static void checkShape(int experts, int nodes, int slotsPerNode, int replicasPerLayer) {
    if (nodes < 1) {
      throw new IllegalArgumentException("need at least one node, got " + nodes);
    }
    if (slotsPerNode < 1) {
      throw new IllegalArgumentException("slots per node must be at least 1, got " + slotsPerNode);
    }
    long slots = (long) nodes * slotsPerNode;
    if (slots < experts) {
      throw new IllegalArgumentException(
          nodes
              + " nodes × "
              + slotsPerNode
              + " slots per node = "
              + slots
              + " slots per layer, fewer than the "
              + experts
              + " experts of each layer: need at least "
              + ((experts + nodes - 1) / nodes)
              + " slots per node or "
              + ((experts + slotsPerNode - 1) / slotsPerNode)
              + " nodes");
    }
    if (replicasPerLayer < experts || replicasPerLayer > slots) {
      throw new IllegalArgumentException(
          "replicas per layer must be between the "
              + experts
              + " experts and the "
              + slots
              + " slots ("
              + nodes
              + " nodes × "
              + slotsPerNode
              + "), got "
              + replicasPerLayer);
    }
  }

  /** Pairs (expert, node id) in {@code to} that {@code from} lacks. */
  public static int moved(Placement from, Placement to) {
    Set<String> had = new HashSet<>();
    for (Placement.Node n : from.nodes()) {
      for (ExpertId e : n.experts()) {
        had.add(n.id() + "/" + e);
      }
    }
    Set<String> counted = new HashSet<>();
    for (Placement.Node n : to.nodes()) {
      for (ExpertId e : n.experts()) {
        String key = n.id() + "/" + e;
        if (!had.contains(key)) {
          counted.add(key);
        }
      }
    }
    return counted.size();
  }

  private static Placement fixed(Strategy strategy, Loads loads, int nodes, long version) {
    Strategies.Kind kind =
        strategy == Strategy.CONTIGUOUS ? Strategies.Kind.CONTIGUOUS : Strategies.Kind.ROUND_ROBIN;
    Placement p = Strategies.place(kind, nodes, 1, loads.layers(), loads.numExperts());
    return new Placement(version, p.nodes());
  }

  private static Placement balanced(
      Loads loads,
      int nodes,
      int slots,
      int budget,
      Optional<Placement> current,
      long work,
      double balanceSlack,
      long version) {
    List<boolean[][]> layers = new ArrayList<>();
    for (int li = 0; li < loads.numLayers(); li++) {
      double[] w = loads.tokens(li);
      LayerState chosen = BalancedSolver.solve(w, nodes, slots, budget, work);
      if (current.isPresent()) {
        boolean[][] cur = Layouts.holdsOf(current.get(), loads.layers().get(li), nodes, w.length);
        chosen = keepExperts(chosen, cur, w, nodes, slots, budget, work, balanceSlack);
      }
      chosen.check();
      layers.add(chosen.holds);
    }
    return Layouts.toPlacement(version, loads.layers(), layers, nodes);
  }

  /**
   * Among candidate solutions whose max node load is within the slack of the best candidate's
   * (rounding aside), the one that moves fewest experts. Candidates: {@code cold} with its node
   * sets relabelled to overlap the current placement most; and local search continued from the
   * current layout: once with steps that relieve the max node only (few moves), once also with
   * spreading steps (better balance, more moves), and once stopping as soon as it is within the
   * slack of the best of the others. Each then swaps experts back to their old nodes where that
   * raises no node above its max. Warm candidates come first and so win ties: they moved experts
   * only where it helped.
   */
  private static LayerState keepExperts(
      LayerState cold,
      boolean[][] cur,
      double[] w,
      int nodes,
      int slots,
      int budget,
      long work,
      double slack) {
    double tol = 1e-12 * Math.max(cold.totalWeight() / nodes, Double.MIN_NORMAL);
    LayerState start = Migration.warmStart(w, nodes, slots, budget, cur);
    LayerState warm = start.copy();
    LocalSearch.improve(warm, work, Double.NEGATIVE_INFINITY, false);
    LayerState warmSpread = warm.copy();
    LocalSearch.improve(warmSpread, work);
    List<LayerState> candidates =
        new ArrayList<>(List.of(warm, warmSpread, Migration.relabel(cold, cur)));
    double best = Double.POSITIVE_INFINITY;
    for (LayerState c : candidates) {
      Migration.keepInPlace(c, cur);
      best = Math.min(best, c.maxLoad());
    }
    double limit = best * (1 + slack) + tol;
    LayerState justEnough = start.copy();
    LocalSearch.improve(justEnough, work, limit, true);
    Migration.keepInPlace(justEnough, cur);
    candidates.add(0, justEnough);
    LayerState chosen = null;
    for (LayerState c : candidates) {
      if (c.maxLoad() <= limit
          && (chosen == null || Migration.moved(c, cur) < Migration.moved(chosen, cur))) {
        chosen = c;
      }
    }
    return chosen;
  }

  /** A node of the new placement keeps the address the current one gave the same id. */
  private static Placement keepAddresses(Placement p, Optional<Placement> current) {
    if (current.isEmpty()) {
      return p;
    }
    Map<String, String> address = new HashMap<>();
    for (Placement.Node n : current.get().nodes()) {
      if (n.address() != null) {
        address.put(n.id(), n.address());
      }
    }
    List<Placement.Node> nodes = new ArrayList<>();
    for (Placement.Node n : p.nodes()) {
      nodes.add(n.withAddress(address.get(n.id())));
    }
    return new Placement(p.version(), nodes);
  }
}
