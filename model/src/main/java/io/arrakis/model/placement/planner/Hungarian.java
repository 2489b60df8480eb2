package io.arrakis.model.placement.planner;

import java.util.Arrays;

/** The assignment problem (Hungarian method with potentials, O(n³)): used to relabel nodes. */
final class Hungarian {
  private Hungarian() {}

  /** For a square profit matrix, {@code assign[row]} = column, maximising the total profit. */
  static int[] maximise(long[][] profit) {
    int n = profit.length;
    // 1-based arrays as in the textbook formulation; cost = −profit.
    long[] u = new long[n + 1];
    long[] v = new long[n + 1];
    int[] p = new int[n + 1];
    int[] way = new int[n + 1];
    for (int i = 1; i <= n; i++) {
      p[0] = i;
      int j0 = 0;
      long[] minv = new long[n + 1];
      Arrays.fill(minv, Long.MAX_VALUE);
      boolean[] usedCol = new boolean[n + 1];
      do {
        usedCol[j0] = true;
        int i0 = p[j0];
        long delta = Long.MAX_VALUE;
        int j1 = 0;
        for (int j = 1; j <= n; j++) {
          if (!usedCol[j]) {
            long cur = -profit[i0 - 1][j - 1] - u[i0] - v[j];
            if (cur < minv[j]) {
              minv[j] = cur;
              way[j] = j0;
            }
            if (minv[j] < delta) {
              delta = minv[j];
              j1 = j;
            }
          }
        }
        for (int j = 0; j <= n; j++) {
          if (usedCol[j]) {
            u[p[j]] += delta;
            v[j] -= delta;
          } else {
            minv[j] -= delta;
          }
        }
        j0 = j1;
      } while (p[j0] != 0);
      do {
        int j1 = way[j0];
        p[j0] = p[j1];
        j0 = j1;
      } while (j0 != 0);
    }
    int[] assign = new int[n];
    for (int j = 1; j <= n; j++) {
      assign[p[j] - 1] = j - 1;
    }
    return assign;
  }
}
