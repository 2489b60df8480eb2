package io.arrakis.model.placement.planner;

import java.util.stream.IntStream;

/**
 * Keeping experts where the current placement has them. Loading an expert on a node is what a
 * rollout pays for (weights travel, the node warms up); dropping one is cheap. So the planner
 * counts an (expert, node) pair that the current placement lacks as one move, and never trades
 * balance for fewer moves: it only chooses among assignments of equal max node load.
 */
final class Migration {
  private Migration() {}

  /**
   * Pairs (node, expert) held in {@code next} and not in {@code current}: what the rollout loads.
   */
  static int moved(boolean[][] next, boolean[][] current) {
    int moved = 0;
    for (int n = 0; n < next.length; n++) {
      for (int e = 0; e < next[n].length; e++) {
        if (next[n][e] && !current[n][e]) {
          moved++;
        }
      }
    }
    return moved;
  }

  static int moved(LayerState s, boolean[][] current) {
    return moved(s.holds, current);
  }

  /**
   * Within a layer, which node carries which set of experts does not change any load, so the sets
   * may be given to nodes in any order: pick the order that keeps the most experts in place.
   */
  static LayerState relabel(LayerState s, boolean[][] current) {
    int n = s.nodes;
    long[][] overlap = new long[n][n];
    for (int set = 0; set < n; set++) {
      for (int node = 0; node < n; node++) {
        long k = 0;
        for (int i = 0; i < s.used[set]; i++) {
          if (current[node][s.on[set][i]]) {
            k++;
          }
        }
        overlap[set][node] = k;
      }
    }
    int[] to = Hungarian.maximise(overlap);
    boolean[][] holds = new boolean[n][];
    for (int set = 0; set < n; set++) {
      holds[to[set]] = s.holds[set].clone();
    }
    return LayerState.of(s.weight, s.slots, s.budget, holds);
  }

  /**
   * Undoes moves that cost no balance: an expert loaded on a new node goes back to a node that held
   * it before, directly when that node has a free slot, else by swapping with an expert there, as
   * long as no node ends above the layer's max load (rounding aside) and fewer pairs are new. Each
   * step lowers the count of new pairs, so this ends.
   */
  static void keepInPlace(LayerState s, boolean[][] current) {
    s.recomputeLoads();
    double mean = s.totalWeight() / s.nodes;
    double limit = s.maxLoad() + 1e-12 * Math.max(mean, Double.MIN_NORMAL);
    boolean improved;
    do {
      // Whole passes until one changes nothing; a change may shuffle on[n], which the next pass
      // sees.
      improved = false;
      for (int n = 0; n < s.nodes; n++) {
        for (int i = 0; i < s.used[n]; i++) {
          int e = s.on[n][i];
          if (!current[n][e] && restore(s, current, e, n, limit)) {
            improved = true;
          }
        }
      }
    } while (improved);
    s.recomputeLoads();
  }

  /** Tries to bring e (newly on n) back to a node that held it; applies the best such change. */
  private static boolean restore(LayerState s, boolean[][] current, int e, int n, double limit) {
    double x = s.piece(e);
    int bestM = -1;
    int bestF = -1;
    int bestDelta = 0;
    for (int m = 0; m < s.nodes; m++) {
      if (!current[m][e] || s.holds[m][e]) {
        continue;
      }
      if (s.hasFreeSlot(m) && s.load[m] + x <= limit && bestDelta > -1) {
        bestM = m;
        bestF = -1;
        bestDelta = -1;
      }
      for (int j = 0; j < s.used[m]; j++) {
        int f = s.on[m][j];
        if (s.holds[n][f]) {
          continue;
        }
        double y = s.piece(f);
        if (s.load[n] - x + y > limit || s.load[m] + x - y > limit) {
          continue;
        }
        // Before: e new on n, f on m (new unless current had it). After: e back on m, f on n.
        int delta = (current[n][f] ? 0 : 1) - 1 - (current[m][f] ? 0 : 1);
        if (delta < bestDelta) {
          bestM = m;
          bestF = f;
          bestDelta = delta;
        }
      }
    }
    if (bestM < 0) {
      return false;
    }
    if (bestF >= 0) {
      s.swap(e, n, bestF, bestM);
    } else {
      s.move(e, n, bestM);
    }
    return true;
  }

  /**
   * The current placement's layer made valid for this plan, as a starting point: nodes over their
   * slots and replicas over the budget shed the replicas of experts held elsewhere too (most
   * replicated first), then experts nobody holds go, heaviest first, to the least loaded node with
   * room, freeing a replica of the most replicated expert where there is none.
   */
  static LayerState warmStart(
      double[] weight, int nodes, int slots, int budget, boolean[][] current) {
    int experts = weight.length;
    boolean[][] holds = new boolean[nodes][];
    int[] used = new int[nodes];
    int[] replicas = new int[experts];
    int total = 0;
    for (int n = 0; n < nodes; n++) {
      holds[n] = current[n].clone();
      for (int e = 0; e < experts; e++) {
        if (holds[n][e]) {
          used[n]++;
          replicas[e]++;
          total++;
        }
      }
    }
    for (int n = 0; n < nodes; n++) {
      while (used[n] > slots) {
        int e = pickShed(weight, holds[n], replicas);
        holds[n][e] = false;
        used[n]--;
        replicas[e]--;
        total--;
      }
    }
    while (total > budget) {
      int bestN = -1;
      int bestE = -1;
      for (int n = 0; n < nodes; n++) {
        for (int e = 0; e < experts; e++) {
          if (holds[n][e] && replicas[e] > 1 && (bestE < 0 || replicas[e] > replicas[bestE])) {
            bestN = n;
            bestE = e;
          }
        }
      }
      holds[bestN][bestE] = false;
      used[bestN]--;
      replicas[bestE]--;
      total--;
    }
    LayerState s = LayerState.of(weight, slots, budget, holds);
    Integer[] missing =
        IntStream.range(0, experts)
            .filter(e -> s.replicas[e] == 0)
            .boxed()
            .sorted((a, b) -> Double.compare(weight[b], weight[a]))
            .toArray(Integer[]::new);
    for (int e : missing) {
      int target = -1;
      if (s.total < s.budget) {
        for (int n = 0; n < nodes; n++) {
          if (s.hasFreeSlot(n) && (target < 0 || s.load[n] < s.load[target])) {
            target = n;
          }
        }
      }
      if (target < 0) {
        // No room: the budget and slots are spent on replicas, and N×S ≥ E means some expert has
        // two or more; take one away from its most loaded holder and use that slot.
        int f = 0;
        for (int g = 1; g < experts; g++) {
          if (s.replicas[g] > s.replicas[f]) {
            f = g;
          }
        }
        for (int n = 0; n < nodes; n++) {
          if (s.holds[n][f] && (target < 0 || s.load[n] > s.load[target])) {
            target = n;
          }
        }
        if (!s.hasFreeSlot(target) || s.total >= s.budget) {
          s.remove(target, f);
        }
        if (!s.hasFreeSlot(target)) {
          throw new IllegalStateException("no slot for expert " + e);
        }
      }
      s.add(target, e);
    }
    s.recomputeLoads();
    return s;
  }

  /**
   * Which expert an overfull node gives up: one also held elsewhere (most replicas), else the
   * lightest.
   */
  private static int pickShed(double[] weight, boolean[] row, int[] replicas) {
    int best = -1;
    for (int e = 0; e < row.length; e++) {
      if (!row[e]) {
        continue;
      }
      if (best < 0
          || replicas[e] > replicas[best]
          || (replicas[e] == replicas[best] && weight[e] < weight[best])) {
        best = e;
      }
    }
    return best;
  }
}
