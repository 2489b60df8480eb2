package io.arrakis.router.cluster;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.placement.planner.Balance;
import io.arrakis.model.placement.planner.Loads;
import io.arrakis.model.placement.planner.Plan;
import io.arrakis.model.placement.planner.Planner;
import io.arrakis.model.placement.planner.Strategy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * The placement controller's decision, as a pure function: plan from the cluster-wide load with the
 * balanced planner on the expert nodes available now, and publish when nodes joined or left, when
 * the current placement misses an expert that carries load, or when the plan's predicted balance
 * (max ÷ mean node load) beats the current placement's by more than the threshold.
 *
 * <p>The planner names its nodes {@code expert-0..N-1}; real node ids (pod names, local ids) are
 * mapped onto those in sorted order and back, so that it keeps experts where they are.
 */
final class Replan {
  private Replan() {}

  /**
   * A re-planning round's outcome.
   *
   * @param next the placement to publish, or null to keep the current one
   * @param reason why, in words (logged)
   */
  public record Decision(
      Placement next, String reason, double currentBalance, double plannedBalance) {
    public boolean publish() {
      return next != null;
    }
  }

  /**
   * Whether the load calls for a new placement, and which.
   *
   * @param nodes the expert nodes the next placement may use: id → address (null where discovery
   *     supplies it)
   * @param slotsPerNode expert slots per node and layer; 0 = the fullest node's count now, at least
   *     enough for every expert
   * @param minImprovement relative balance improvement that makes a new placement worth its rollout
   */
  public static Decision decide(
      Placement current,
      Map<ExpertId, Long> load,
      List<Integer> moeLayers,
      int numExperts,
      Map<String, String> nodes,
      int slotsPerNode,
      double minImprovement) {
    if (nodes.isEmpty()) {
      return keep("no expert node available", Double.NaN, Double.NaN);
    }
    List<String> ids = new ArrayList<>(new TreeSet<>(nodes.keySet()));
    TreeSet<String> joined = new TreeSet<>(ids);
    TreeSet<String> left = new TreeSet<>();
    for (Placement.Node n : current.nodes()) {
      if (!joined.remove(n.id())) {
        left.add(n.id());
      }
    }
    Loads loads = loads(load, moeLayers, numExperts);
    int slots = slotsPerNode > 0 ? slotsPerNode : autoSlots(current, ids.size(), numExperts);
    Plan plan =
        Planner.plan(
            loads, ids.size(), slots, Strategy.BALANCED, Optional.of(toPlanner(current, ids)));
    Placement next = fromPlanner(plan.placement(), ids, nodes, current);
    double planned = plan.balance().mean();
    Optional<Balance> now = Balance.ofIfCovers(current, loads);
    double currentBalance = now.map(Balance::mean).orElse(Double.NaN);
    if (!joined.isEmpty() || !left.isEmpty()) {
      return new Decision(
          next,
          "expert nodes "
              + (joined.isEmpty() ? "" : "joined " + joined + " ")
              + (left.isEmpty() ? "" : "left " + left + " ")
              + "("
              + plan.moved()
              + " experts to load)",
          currentBalance,
          planned);
    }
    if (now.isEmpty()) {
      return new Decision(
          next, "the current placement misses experts that carry load", currentBalance, planned);
    }
    if (plan.moved() == 0 && plan.dropped() == 0) {
      return keep("the plan is the current placement", currentBalance, planned);
    }
    double improvement = 1 - planned / currentBalance;
    String figures =
        String.format(
            Locale.ROOT,
            "predicted balance %.4f -> %.4f (%.1f%%, threshold %.1f%%)",
            currentBalance,
            planned,
            100 * improvement,
            100 * minImprovement);
    if (improvement > minImprovement) {
      return new Decision(
          next, figures + ", " + plan.moved() + " experts to load", currentBalance, planned);
    }
    return keep(figures, currentBalance, planned);
  }

  private static Decision keep(String reason, double current, double planned) {
    return new Decision(null, reason, current, planned);
  }

  static Loads loads(Map<ExpertId, Long> load, List<Integer> moeLayers, int numExperts) {
    double[][] tokens = new double[moeLayers.size()][numExperts];
    Map<Integer, Integer> row = new HashMap<>();
    for (int i = 0; i < moeLayers.size(); i++) {
      row.put(moeLayers.get(i), i);
    }
    long total = 0;
    for (Map.Entry<ExpertId, Long> en : load.entrySet()) {
      ExpertId e = en.getKey();
      Integer r = row.get(e.layer());
      if (r != null && e.expert() >= 0 && e.expert() < numExperts) {
        tokens[r][e.expert()] += en.getValue();
        total += en.getValue();
      }
    }
    if (total == 0) {
      // nothing routed in the window: plan for even load, so that a joining node still gets experts
      for (double[] t : tokens) {
        Arrays.fill(t, 1.0);
      }
    }
    return Loads.of(moeLayers, tokens);
  }

  /**
   * As many slots as the fullest node uses in one layer now, and enough for every expert on {@code
   * nodes} nodes.
   */
  static int autoSlots(Placement current, int nodes, int numExperts) {
    int most = 0;
    for (Placement.Node n : current.nodes()) {
      Map<Integer, Integer> perLayer = new HashMap<>();
      for (ExpertId e : n.experts()) {
        most = Math.max(most, perLayer.merge(e.layer(), 1, Integer::sum));
      }
    }
    return Math.max(most, (numExperts + nodes - 1) / nodes);
  }

  /** The current placement on the planner's ids; nodes that are not available are left out. */
  private static Placement toPlanner(Placement current, List<String> ids) {
    List<Placement.Node> out = new ArrayList<>();
    for (Placement.Node n : current.nodes()) {
      int i = ids.indexOf(n.id());
      if (i >= 0) {
        out.add(new Placement.Node(Strategies.nodeId(i), null, n.experts()));
      }
    }
    return new Placement(current.version(), out);
  }

  /**
   * The planner's placement on the real ids: the address discovery gave, else the current
   * placement's.
   */
  private static Placement fromPlanner(
      Placement planned, List<String> ids, Map<String, String> nodes, Placement current) {
    Map<String, String> known = new HashMap<>();
    current
        .nodes()
        .forEach(
            n -> {
              if (n.address() != null) {
                known.put(n.id(), n.address());
              }
            });
    List<Placement.Node> out = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      String id = ids.get(i);
      String address = nodes.get(id) != null ? nodes.get(id) : known.get(id);
      out.add(new Placement.Node(id, address, planned.node(Strategies.nodeId(i)).experts()));
    }
    return new Placement(planned.version(), out);
  }
}
