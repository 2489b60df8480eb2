package io.arrakis.model.placement.planner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;

/**
 * The two steps of EPLB's global policy, as building blocks: replica counts, then greedy packing.
 */
final class Packing {
  private Packing() {}

  /**
   * EPLB's {@code replicate_experts}: starting from one replica each, give the next replica to the
   * expert whose replicas carry the most each (the lowest id among equals), until {@code budget}
   * replicas. This minimises the largest per-replica load. {@code cap} bounds one expert's replicas
   * (the node count, where replicas must sit on distinct nodes; unbounded for faithful EPLB);
   * experts at the cap are passed over, so fewer than {@code budget} replicas result when every
   * expert is at the cap. Returns the experts given an extra replica, in the order given.
   */
  static int[] replicate(double[] weight, int budget, int cap) {
    int experts = weight.length;
    int[] count = new int[experts];
    Arrays.fill(count, 1);
    PriorityQueue<Integer> queue =
        new PriorityQueue<>(
            Comparator.comparingDouble((Integer e) -> -weight[e] / count[e])
                .thenComparingInt(e -> e));
    for (int e = 0; e < experts; e++) {
      if (count[e] < cap) {
        queue.add(e);
      }
    }
    int[] added = new int[Math.max(0, budget - experts)];
    int n = 0;
    while (n < added.length && !queue.isEmpty()) {
      int e = queue.poll();
      count[e]++;
      added[n++] = e;
      if (count[e] < cap) {
        queue.add(e);
      }
    }
    return Arrays.copyOf(added, n);
  }

  /** Replicas per expert after {@link #replicate}. */
  static int[] replicaCounts(double[] weight, int budget, int cap) {
    int[] count = new int[weight.length];
    Arrays.fill(count, 1);
    for (int e : replicate(weight, budget, cap)) {
      count[e]++;
    }
    return count;
  }

  /**
   * Greedy packing (longest processing time first) with the constraint EPLB lacks: replicas are
   * taken heaviest first (lower expert id first among equals) and each goes to the least loaded
   * node (lowest index among equals) that has a free slot and does not already hold that expert.
   * When every node with a free slot already holds the expert, one expert moves out of the way (see
   * {@link #makeRoom}). Needs {@code counts[e] <= nodes} and {@code sum(counts) <= nodes*slots}.
   */
  static LayerState packDistinct(double[] weight, int[] counts, int nodes, int slots, int budget) {
    List<int[]> items = new ArrayList<>();
    for (int e = 0; e < weight.length; e++) {
      for (int r = 0; r < counts[e]; r++) {
        items.add(new int[] {e, r});
      }
    }
    items.sort(
        Comparator.comparingDouble((int[] it) -> -weight[it[0]] / counts[it[0]])
            .thenComparingInt(it -> it[0])
            .thenComparingInt(it -> it[1]));
    boolean[][] holds = new boolean[nodes][weight.length];
    double[] load = new double[nodes];
    int[] used = new int[nodes];
    for (int[] it : items) {
      int e = it[0];
      double piece = weight[e] / counts[e];
      int best = -1;
      for (int n = 0; n < nodes; n++) {
        if (used[n] < slots && !holds[n][e] && (best < 0 || load[n] < load[best])) {
          best = n;
        }
      }
      if (best < 0) {
        best = makeRoom(weight, counts, holds, load, used, slots, e);
      }
      holds[best][e] = true;
      load[best] += piece;
      used[best]++;
    }
    return LayerState.of(weight, slots, budget, holds);
  }

  /**
   * Every node with a free slot already holds e. Take a full node c without e: it holds {@code
   * slots} experts while a node b with a free slot holds fewer, so one of c's experts f is not on
   * b; move f to b, leaving c's slot for e. Such c, f always exist, so packing never fails.
   */
  private static int makeRoom(
      double[] weight,
      int[] counts,
      boolean[][] holds,
      double[] load,
      int[] used,
      int slots,
      int e) {
    int nodes = holds.length;
    for (int b = 0; b < nodes; b++) {
      if (used[b] >= slots) {
        continue;
      }
      for (int c = 0; c < nodes; c++) {
        if (holds[c][e]) {
          continue;
        }
        for (int f = 0; f < weight.length; f++) {
          if (holds[c][f] && !holds[b][f]) {
            double piece = weight[f] / counts[f];
            holds[c][f] = false;
            load[c] -= piece;
            used[c]--;
            holds[b][f] = true;
            load[b] += piece;
            used[b]++;
            return c;
          }
        }
      }
    }
    throw new IllegalStateException(
        "no room for another replica of expert "
            + e
            + ": more replicas than distinct nodes or slots");
  }
}
