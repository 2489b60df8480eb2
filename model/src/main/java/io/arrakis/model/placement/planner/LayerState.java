package io.arrakis.model.placement.planner;

import java.util.Arrays;

/**
 * One layer's assignment of expert replicas to nodes while the planner works on it: which node
 * holds which expert, how many replicas each expert has, and each node's load (an expert's tokens
 * split evenly over its replicas). Mutable and not shared; {@link #copy()} before trying something
 * that may be thrown away.
 */
final class LayerState {
  final int nodes;
  final int slots;
  final int budget;
  final double[] weight;

  /** {@code holds[n][e]}: node n holds expert e. */
  final boolean[][] holds;

  /** {@code on[n][0..used[n])}: the experts node n holds, in no particular order. */
  final int[][] on;

  final int[] used;
  final int[] replicas;
  final double[] load;
  int total;

  LayerState(double[] weight, int nodes, int slots, int budget) {
    this.weight = weight;
    this.nodes = nodes;
    this.slots = slots;
    this.budget = budget;
    this.holds = new boolean[nodes][weight.length];
    this.on = new int[nodes][slots];
    this.used = new int[nodes];
    this.replicas = new int[weight.length];
    this.load = new double[nodes];
  }

  private LayerState(LayerState o) {
    weight = o.weight;
    nodes = o.nodes;
    slots = o.slots;
    budget = o.budget;
    holds = new boolean[nodes][];
    on = new int[nodes][];
    for (int n = 0; n < nodes; n++) {
      holds[n] = o.holds[n].clone();
      on[n] = o.on[n].clone();
    }
    used = o.used.clone();
    replicas = o.replicas.clone();
    load = o.load.clone();
    total = o.total;
  }

  /** A state holding exactly what {@code holds} says, loads computed afresh. */
  static LayerState of(double[] weight, int slots, int budget, boolean[][] holds) {
    LayerState s = new LayerState(weight, holds.length, slots, budget);
    for (int n = 0; n < holds.length; n++) {
      for (int e = 0; e < weight.length; e++) {
        if (holds[n][e]) {
          s.holds[n][e] = true;
          s.on[n][s.used[n]++] = e;
          s.replicas[e]++;
          s.total++;
        }
      }
    }
    s.recomputeLoads();
    return s;
  }

  LayerState copy() {
    return new LayerState(this);
  }

  int experts() {
    return weight.length;
  }

  /** The load one replica of {@code e} carries. */
  double piece(int e) {
    return weight[e] / replicas[e];
  }

  boolean hasFreeSlot(int n) {
    return used[n] < slots;
  }

  /** Adds a replica of e on n; the other holders of e each carry a smaller share. */
  void add(int n, int e) {
    if (holds[n][e] || used[n] >= slots) {
      throw new IllegalStateException("cannot add expert " + e + " to node " + n);
    }
    int r = replicas[e];
    if (r > 0) {
      double delta = weight[e] / (r + 1) - weight[e] / r;
      for (int h = 0; h < nodes; h++) {
        if (holds[h][e]) {
          load[h] += delta;
        }
      }
    }
    holds[n][e] = true;
    on[n][used[n]++] = e;
    replicas[e] = r + 1;
    load[n] += weight[e] / (r + 1);
    total++;
  }

  /** Removes the replica of e on n; the other holders of e each carry a larger share. */
  void remove(int n, int e) {
    if (!holds[n][e]) {
      throw new IllegalStateException("node " + n + " does not hold expert " + e);
    }
    int r = replicas[e];
    holds[n][e] = false;
    for (int i = 0; i < used[n]; i++) {
      if (on[n][i] == e) {
        on[n][i] = on[n][--used[n]];
        break;
      }
    }
    load[n] -= weight[e] / r;
    if (r > 1) {
      double delta = weight[e] / (r - 1) - weight[e] / r;
      for (int h = 0; h < nodes; h++) {
        if (holds[h][e]) {
          load[h] += delta;
        }
      }
    }
    replicas[e] = r - 1;
    total--;
  }

  /** Moves the replica of e from node a to node b (replica count unchanged). */
  void move(int e, int a, int b) {
    double x = piece(e);
    holds[a][e] = false;
    for (int i = 0; i < used[a]; i++) {
      if (on[a][i] == e) {
        on[a][i] = on[a][--used[a]];
        break;
      }
    }
    holds[b][e] = true;
    on[b][used[b]++] = e;
    load[a] -= x;
    load[b] += x;
  }

  /** Exchanges e on node a with f on node b (replica counts unchanged). */
  void swap(int e, int a, int f, int b) {
    double x = piece(e);
    double y = piece(f);
    replaceOn(a, e, f);
    replaceOn(b, f, e);
    load[a] += y - x;
    load[b] += x - y;
  }

  private void replaceOn(int n, int out, int in) {
    holds[n][out] = false;
    holds[n][in] = true;
    for (int i = 0; i < used[n]; i++) {
      if (on[n][i] == out) {
        on[n][i] = in;
        return;
      }
    }
    throw new IllegalStateException("node " + n + " does not hold expert " + out);
  }

  /** Incremental updates drift by rounding; the planner recomputes before comparing states. */
  void recomputeLoads() {
    Arrays.fill(load, 0);
    for (int n = 0; n < nodes; n++) {
      for (int i = 0; i < used[n]; i++) {
        load[n] += piece(on[n][i]);
      }
    }
  }

  double totalWeight() {
    double s = 0;
    for (double w : weight) {
      s += w;
    }
    return s;
  }

  double maxLoad() {
    double m = Double.NEGATIVE_INFINITY;
    for (double l : load) {
      m = Math.max(m, l);
    }
    return m;
  }

  /** The most loaded node, the lowest index among equals (deterministic). */
  int argMax() {
    int a = 0;
    for (int n = 1; n < nodes; n++) {
      if (load[n] > load[a]) {
        a = n;
      }
    }
    return a;
  }

  /** Max node load ÷ mean node load; 1 for a layer that carried no tokens. */
  double ratio() {
    double mean = totalWeight() / nodes;
    return mean > 0 ? maxLoad() / mean : 1.0;
  }

  /** Every expert held, no node over its slots, within the replica budget. */
  void check() {
    for (int e = 0; e < experts(); e++) {
      if (replicas[e] < 1) {
        throw new IllegalStateException("expert " + e + " is not placed");
      }
    }
    for (int n = 0; n < nodes; n++) {
      if (used[n] > slots) {
        throw new IllegalStateException("node " + n + " holds " + used[n] + " > " + slots);
      }
    }
    if (total > budget) {
      throw new IllegalStateException(total + " replicas exceed the budget " + budget);
    }
  }
}
