package io.arrakis.loadtest.simulate.calibrate;

/**
 * Non-negative least squares for a handful of unknowns: the best fit over every subset of them (the
 * others held at 0) whose solution is non-negative. Costs cannot be negative; noise in a few
 * measurements would otherwise make one so.
 */
final class Nnls {
  private Nnls() {}

  /** x ≥ 0 minimising |A·x − b|² for A [rows][cols], cols ≤ 10. */
  static double[] solve(double[][] a, double[] b) {
    int cols = a[0].length;
    if (cols > 10) {
      throw new IllegalArgumentException("too many unknowns for a subset search: " + cols);
    }
    double[] best = new double[cols];
    double bestResidual = residual(a, b, best);
    for (int mask = 1; mask < 1 << cols; mask++) {
      double[] x = leastSquares(a, b, mask);
      if (x == null) {
        continue;
      }
      boolean feasible = true;
      for (double v : x) {
        feasible &= v >= 0;
      }
      double r = residual(a, b, x);
      if (feasible && r < bestResidual) {
        best = x;
        bestResidual = r;
      }
    }
    return best;
  }

  /**
   * Least squares over the columns in {@code mask} (normal equations), the others 0; null when
   * singular.
   */
  private static double[] leastSquares(double[][] a, double[] b, int mask) {
    int cols = a[0].length;
    int[] idx = new int[Integer.bitCount(mask)];
    for (int c = 0, k = 0; c < cols; c++) {
      if ((mask & 1 << c) != 0) {
        idx[k++] = c;
      }
    }
    int n = idx.length;
    double[][] m = new double[n][n + 1];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        for (double[] row : a) {
          m[i][j] += row[idx[i]] * row[idx[j]];
        }
      }
      for (int r = 0; r < a.length; r++) {
        m[i][n] += a[r][idx[i]] * b[r];
      }
    }
    for (int col = 0; col < n; col++) {
      int pivot = col;
      for (int r = col + 1; r < n; r++) {
        if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) {
          pivot = r;
        }
      }
      double scale = 0;
      for (double[] row : m) {
        scale = Math.max(scale, Math.abs(row[col]));
      }
      if (Math.abs(m[pivot][col]) <= 1e-12 * Math.max(scale, Double.MIN_NORMAL)) {
        return null;
      }
      double[] t = m[col];
      m[col] = m[pivot];
      m[pivot] = t;
      for (int r = 0; r < n; r++) {
        if (r != col) {
          double f = m[r][col] / m[col][col];
          for (int c = col; c <= n; c++) {
            m[r][c] -= f * m[col][c];
          }
        }
      }
    }
    double[] x = new double[cols];
    for (int i = 0; i < n; i++) {
      x[idx[i]] = m[i][n] / m[i][i];
    }
    return x;
  }

  static double residual(double[][] a, double[] b, double[] x) {
    double sum = 0;
    for (int r = 0; r < a.length; r++) {
      double e = -b[r];
      for (int c = 0; c < x.length; c++) {
        e += a[r][c] * x[c];
      }
      sum += e * e;
    }
    return sum;
  }
}
