package io.arrakis.model.placement.planner;

/**
 * Improves one layer's assignment by local moves that lower the most loaded node, keeping every
 * expert placed, slot limits, the replica budget and one replica per node per expert.
 *
 * <p>Each step applies the best of the first kind that helps:
 *
 * <ol>
 *   <li>move a replica from the most loaded node a to a node with a free slot, or swap one on a
 *       with a lighter one elsewhere;
 *   <li>change replica counts: split an expert of a into one more replica on some node b (using a
 *       spare replica of the budget, or freeing a slot by taking a replica away from an expert that
 *       has several), or drop a replica of a's that another node also holds. These fix EPLB's
 *       counts, which minimise the largest replica, not the largest node;
 *   <li>(optional) even out two nodes below the max, so that a later step can relieve the max.
 * </ol>
 *
 * Steps of kinds 1 and 2 lower (max node load, number of nodes at the max); kind 3 keeps both and
 * lowers the sum of squared loads. So no state repeats and the search ends; a budget of work
 * (candidate evaluations) also bounds it deterministically whatever the input size.
 */
final class LocalSearch {
  private LocalSearch() {}

  /** Candidate evaluations left; one per search, never shared. */
  static final class Work {
    private long left;

    Work(long budget) {
      left = budget;
    }

    boolean exhausted() {
      return left <= 0;
    }

    long left() {
      return left;
    }

    void spend(long evaluations) {
      left -= evaluations;
    }
  }

  /**
   * Improves until no step helps or {@code work} candidate evaluations are spent; returns those
   * spent.
   */
  static long improve(LayerState s, long work) {
    return improve(s, work, Double.NEGATIVE_INFINITY, true);
  }

  /**
   * Improves until no step helps, the work is spent, or the max node load is at most {@code
   * stopAt}; {@code spread} enables {@link #spreadStep} (good for balance, churn when the aim is to
   * move few experts).
   */
  static long improve(LayerState s, long work, double stopAt, boolean spread) {
    double mean = s.totalWeight() / s.nodes;
    if (mean <= 0) {
      return 0;
    }
    // Below this, differences are rounding, not improvement.
    double tol = 1e-12 * mean;
    Work w = new Work(work);
    while (!w.exhausted()
        && s.maxLoad() > stopAt
        && (pairStep(s, tol, w)
            || countStep(s, tol, w)
            || (spread && spreadStep(s, tol * mean, w)))) {
      // each step applied one change
    }
    s.recomputeLoads();
    return work - w.left();
  }

  /** Moves and swaps between the most loaded node and another: only those two loads change. */
  static boolean pairStep(LayerState s, double tol, Work work) {
    int a = s.argMax();
    double la = s.load[a];
    double best = la - tol;
    int bestE = -1;
    int bestB = -1;
    int bestF = -1;
    long evals = 0;
    for (int i = 0; i < s.used[a]; i++) {
      int e = s.on[a][i];
      double x = s.piece(e);
      evals += s.nodes;
      for (int b = 0; b < s.nodes; b++) {
        if (b == a || s.holds[b][e]) {
          continue;
        }
        double lb = s.load[b];
        if (lb + tol >= la) {
          continue;
        }
        if (s.hasFreeSlot(b)) {
          double cand = Math.max(la - x, lb + x);
          if (cand < best) {
            best = cand;
            bestE = e;
            bestB = b;
            bestF = -1;
          }
        }
        evals += 1 + s.used[b];
        for (int j = 0; j < s.used[b]; j++) {
          int f = s.on[b][j];
          if (s.holds[a][f]) {
            continue;
          }
          double y = s.piece(f);
          if (y >= x) {
            continue;
          }
          double cand = Math.max(la - x + y, lb + x - y);
          if (cand < best) {
            best = cand;
            bestE = e;
            bestB = b;
            bestF = f;
          }
        }
      }
    }
    work.spend(evals + 1);
    if (bestE < 0) {
      return false;
    }
    if (bestF >= 0) {
      s.swap(bestE, a, bestF, bestB);
    } else {
      s.move(bestE, a, bestB);
    }
    return true;
  }

  /**
   * When the max node cannot be helped directly: a move or swap between any two nodes that evens
   * their loads (lowers the sum of squared loads) without either reaching the max. This reshapes
   * the rest of the layer so that a later step can relieve the max node. The max and the number of
   * nodes at it never grow, the sum of squares falls (by more than {@code minGain}), so the search
   * still ends.
   */
  static boolean spreadStep(LayerState s, double minGain, Work work) {
    double bestGain = minGain;
    int bestE = -1;
    int bestB = -1;
    int bestC = -1;
    int bestF = -1;
    long evals = 0;
    for (int b = 0; b < s.nodes; b++) {
      evals += s.nodes;
      for (int c = 0; c < s.nodes; c++) {
        double gap = s.load[b] - s.load[c];
        if (gap <= 0 || gap * gap / 4 <= bestGain) {
          continue; // moving d from b to c gains d·(gap − d), at most gap²/4
        }
        for (int i = 0; i < s.used[b]; i++) {
          int e = s.on[b][i];
          if (s.holds[c][e]) {
            continue;
          }
          double x = s.piece(e);
          evals += 1 + s.used[c];
          if (s.hasFreeSlot(c) && x < gap) {
            double gain = x * (gap - x);
            if (gain > bestGain) {
              bestGain = gain;
              bestE = e;
              bestB = b;
              bestC = c;
              bestF = -1;
            }
          }
          for (int j = 0; j < s.used[c]; j++) {
            int f = s.on[c][j];
            if (s.holds[b][f]) {
              continue;
            }
            double d = x - s.piece(f);
            if (d > 0 && d < gap) {
              double gain = d * (gap - d);
              if (gain > bestGain) {
                bestGain = gain;
                bestE = e;
                bestB = b;
                bestC = c;
                bestF = f;
              }
            }
          }
        }
      }
    }
    work.spend(evals + 1);
    if (bestE < 0) {
      return false;
    }
    if (bestF >= 0) {
      s.swap(bestE, bestB, bestF, bestC);
    } else {
      s.move(bestE, bestB, bestC);
    }
    return true;
  }

  /**
   * Changes of replica counts, judged on all node loads (every holder of a split or dropped expert
   * changes). Tried only when {@link #pairStep} finds nothing, as it costs more.
   */
  static boolean countStep(LayerState s, double tol, Work work) {
    int a = s.argMax();
    CountChoice choice = new CountChoice(s, tol);

    // Replicas that can be taken away to fund a split: experts with more than one replica.
    int[] fundC = new int[s.total];
    int[] fundF = new int[s.total];
    int funds = 0;
    for (int c = 0; c < s.nodes; c++) {
      for (int j = 0; j < s.used[c]; j++) {
        int f = s.on[c][j];
        if (s.replicas[f] > 1) {
          fundC[funds] = c;
          fundF[funds++] = f;
        }
      }
    }
    boolean budgetLeft = s.total < s.budget;
    for (int i = 0; i < s.used[a]; i++) {
      int e = s.on[a][i];
      // Drop: a sheds e's piece, the other holders of e share it.
      if (s.replicas[e] > 1) {
        choice.consider(e, -1, a, e);
      }
      if (s.replicas[e] >= s.nodes) {
        continue;
      }
      for (int b = 0; b < s.nodes; b++) {
        if (s.holds[b][e]) {
          continue;
        }
        // Split funded by the budget.
        if (budgetLeft && s.hasFreeSlot(b)) {
          choice.consider(e, b, -1, -1);
        }
        // Split funded by taking a replica of f away (from b itself, or from anywhere if b has
        // room).
        boolean room = s.hasFreeSlot(b);
        for (int k = 0; k < funds; k++) {
          if (fundF[k] != e && (room || fundC[k] == b)) {
            choice.consider(e, b, fundC[k], fundF[k]);
          }
        }
        choice.trials++;
      }
    }
    // Each trial copies and scans the node loads.
    work.spend(choice.trials * (s.nodes + 1L) + s.total + 1);
    if (choice.best == null) {
      return false;
    }
    int[] best = choice.best;
    if (best[2] >= 0) {
      s.remove(best[2], best[3]);
    }
    if (best[1] >= 0) {
      s.add(best[1], best[0]);
    }
    return true;
  }

  /** The best replica-count change seen so far, by (max node load, nodes at the max). */
  private static final class CountChoice {
    final LayerState s;
    final double tol;
    final double[] trial;
    double bestMax;
    int bestCount;

    /** {e, b, c, f}: add e on b (b = −1: none), after removing f from c (c = −1: none). */
    int[] best;

    long trials;

    CountChoice(LayerState s, double tol) {
      this.s = s;
      this.tol = tol;
      this.trial = new double[s.nodes];
      this.bestMax = max(s.load);
      this.bestCount = atMax(s.load, bestMax, tol);
    }

    void consider(int e, int b, int c, int f) {
      trials++;
      System.arraycopy(s.load, 0, trial, 0, s.nodes);
      if (c >= 0) {
        applyRemove(s, trial, c, f);
      }
      if (b >= 0) {
        applyAdd(s, trial, b, e);
      }
      double m = max(trial);
      int cnt = atMax(trial, m, tol);
      if (m < bestMax - tol || (m <= bestMax && cnt < bestCount)) {
        bestMax = m;
        bestCount = cnt;
        best = new int[] {e, b, c, f};
      }
    }
  }

  /** Loads after removing e from n, without changing s. */
  private static void applyRemove(LayerState s, double[] trial, int n, int e) {
    int r = s.replicas[e];
    double w = s.weight[e];
    trial[n] -= w / r;
    double delta = w / (r - 1) - w / r;
    for (int h = 0; h < s.nodes; h++) {
      if (h != n && s.holds[h][e]) {
        trial[h] += delta;
      }
    }
  }

  /** Loads after adding e on n, without changing s. */
  private static void applyAdd(LayerState s, double[] trial, int n, int e) {
    int r = s.replicas[e];
    double w = s.weight[e];
    double delta = w / (r + 1) - w / r;
    for (int h = 0; h < s.nodes; h++) {
      if (s.holds[h][e]) {
        trial[h] += delta;
      }
    }
    trial[n] += w / (r + 1);
  }

  static double max(double[] v) {
    double m = Double.NEGATIVE_INFINITY;
    for (double x : v) {
      m = Math.max(m, x);
    }
    return m;
  }

  static int atMax(double[] v, double max, double tol) {
    int c = 0;
    for (double x : v) {
      if (x >= max - tol) {
        c++;
      }
    }
    return c;
  }
}
