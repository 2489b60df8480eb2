package io.arrakis.model.synthetic;

import java.util.function.IntUnaryOperator;

/**
 * Zipf popularity over n items, as the synthetic model, the planner's traces and the simulator draw
 * it: the r-th most popular item weighs 1/r^s, and each layer ranks its items in its own random
 * order. Randomness comes from the caller, so each keeps its own generator and sequence.
 */
public final class Zipf {
  private Zipf() {}

  /**
   * 0..n-1 in a uniformly random order (Fisher–Yates).
   *
   * @param below a draw in [0, bound) for the bound given, e.g. {@code random::nextInt}
   */
  public static int[] randomOrder(int n, IntUnaryOperator below) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = below.applyAsInt(i + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** Running sums of the weights 1/(r+1)^exponent for ranks r = 0..n-1; the last is the total. */
  public static double[] cumulativeWeights(int n, double exponent) {
    double[] cumulative = new double[n];
    double sum = 0;
    for (int r = 0; r < n; r++) {
      sum += Math.pow(r + 1, -exponent);
      cumulative[r] = sum;
    }
    return cumulative;
  }

  /**
   * The rank whose share of {@code cumulative} holds {@code u} (0 <= u < total): the first running
   * sum above u.
   */
  public static int rankAt(double[] cumulative, double u) {
    int lo = 0;
    int hi = cumulative.length - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (cumulative[mid] > u) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }
}
