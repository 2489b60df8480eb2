package io.arrakis.model.placement;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Placements that need no load figures: {@code contiguous} gives each node a consecutive block of
 * experts in every layer, {@code round-robin} deals them out one by one. With {@code replicas} R,
 * each expert is held by R distinct nodes (the next R−1 nodes after its first).
 */
public final class Strategies {
  private Strategies() {}

  public enum Kind {
    CONTIGUOUS,
    ROUND_ROBIN;

    public static Kind parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "contiguous" -> CONTIGUOUS;
        case "round-robin", "roundrobin", "round_robin" -> ROUND_ROBIN;
        default ->
            throw new IllegalArgumentException(
                "unknown strategy '" + s + "': expected contiguous or round-robin");
      };
    }
  }

  /** Node ids {@code expert-0} … {@code expert-(n−1)}. */
  public static String nodeId(int i) {
    return "expert-" + i;
  }

  public static Placement place(
      Kind kind, int nodes, int replicas, List<Integer> moeLayers, int numExperts) {
    if (nodes < 1) {
      throw new IllegalArgumentException("need at least one node, got " + nodes);
    }
    if (replicas < 1 || replicas > nodes) {
      throw new IllegalArgumentException(
          "replicas must be in 1.." + nodes + " (one per distinct node), got " + replicas);
    }
    List<List<ExpertId>> held = new ArrayList<>();
    for (int i = 0; i < nodes; i++) {
      held.add(new ArrayList<>());
    }
    for (int layer : moeLayers) {
      for (int e = 0; e < numExperts; e++) {
        int first = kind == Kind.CONTIGUOUS ? (int) ((long) e * nodes / numExperts) : e % nodes;
        for (int r = 0; r < replicas; r++) {
          held.get((first + r) % nodes).add(new ExpertId(layer, e));
        }
      }
    }
    List<Placement.Node> out = new ArrayList<>();
    for (int i = 0; i < nodes; i++) {
      held.get(i).sort(null);
      out.add(new Placement.Node(nodeId(i), null, held.get(i)));
    }
    return new Placement(1, out);
  }
}
