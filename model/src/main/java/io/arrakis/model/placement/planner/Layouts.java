package io.arrakis.model.placement.planner;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import java.util.ArrayList;
import java.util.List;

/** Conversions between per-layer {@code holds[node][expert]} tables and {@link Placement}s. */
final class Layouts {
  private Layouts() {}

  /**
   * Nodes {@code expert-0..N-1}, each holding its experts of every layer in (layer, expert) order.
   */
  static Placement toPlacement(
      long version, List<Integer> layers, List<boolean[][]> holdsPerLayer, int nodes) {
    List<Placement.Node> out = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      List<ExpertId> experts = new ArrayList<>();
      for (int li = 0; li < layers.size(); li++) {
        boolean[] row = holdsPerLayer.get(li)[n];
        for (int e = 0; e < row.length; e++) {
          if (row[e]) {
            experts.add(new ExpertId(layers.get(li), e));
          }
        }
      }
      out.add(new Placement.Node(Strategies.nodeId(n), null, experts));
    }
    return new Placement(version, out);
  }

  /**
   * What node {@code expert-n} of {@code p} holds in {@code layer}: {@code holds[n][e]}. Nodes with
   * other ids, layers and experts outside the table are left out (they have no slot to keep).
   */
  static boolean[][] holdsOf(Placement p, int layer, int nodes, int experts) {
    boolean[][] holds = new boolean[nodes][experts];
    for (int n = 0; n < nodes; n++) {
      String id = Strategies.nodeId(n);
      for (Placement.Node node : p.nodes()) {
        if (node.id().equals(id)) {
          for (ExpertId e : node.experts()) {
            if (e.layer() == layer && e.expert() >= 0 && e.expert() < experts) {
              holds[n][e.expert()] = true;
            }
          }
        }
      }
    }
    return holds;
  }
}
