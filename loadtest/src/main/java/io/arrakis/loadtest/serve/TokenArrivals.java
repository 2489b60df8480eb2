package io.arrakis.loadtest.serve;

import java.util.ArrayList;
import java.util.List;

/** When each token-bearing message of one stream arrived, and how many tokens it brought. */
final class TokenArrivals {
  private final long startNanos;
  private final List<long[]> arrivals = new ArrayList<>();

  /**
   * @param startNanos when the stream was started (System.nanoTime)
   */
  TokenArrivals(long startNanos) {
    this.startNanos = startNanos;
  }

  synchronized void add(long atNanos, int tokens) {
    arrivals.add(new long[] {atNanos, tokens});
  }

  /** Time to the first token, in nanoseconds (-1 without one). */
  synchronized long ttftNanos() {
    return arrivals.isEmpty() ? -1 : arrivals.get(0)[0] - startNanos;
  }

  /** Tokens that arrived in [from, until) (System.nanoTime). */
  synchronized long tokensBetween(long from, long until) {
    long n = 0;
    for (long[] a : arrivals) {
      if (a[0] >= from && a[0] < until) {
        n += a[1];
      }
    }
    return n;
  }

  /** Gaps between messages that brought tokens, in nanoseconds. */
  synchronized long[] interTokenNanos() {
    long[] out = new long[Math.max(0, arrivals.size() - 1)];
    for (int i = 1; i < arrivals.size(); i++) {
      out[i - 1] = arrivals.get(i)[0] - arrivals.get(i - 1)[0];
    }
    return out;
  }
}
