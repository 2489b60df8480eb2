package io.arrakis.loadtest.serve;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * When one stream started, when each of its token-bearing messages arrived (and how many tokens it
 * brought), when it ended: the times a serving report is made of.
 */
public final class TokenArrivals {
  private final long startNanos;
  private final List<long[]> arrivals = new ArrayList<>();
  private long endNanos;

  /**
   * @param startNanos when the stream was started (System.nanoTime)
   */
  TokenArrivals(long startNanos) {
    this.startNanos = startNanos;
  }

  synchronized void add(long atNanos, int tokens) {
    arrivals.add(new long[] {atNanos, tokens});
  }

  synchronized void end(long atNanos) {
    endNanos = atNanos;
  }

  /** When the stream ended (System.nanoTime; 0 while it runs). */
  public synchronized long endNanos() {
    return endNanos;
  }

  /** Start to end, in nanoseconds. */
  public synchronized long e2eNanos() {
    return endNanos - startNanos;
  }

  /** Time to the first token, in nanoseconds (-1 without one). */
  public synchronized long ttftNanos() {
    return arrivals.isEmpty() ? -1 : arrivals.get(0)[0] - startNanos;
  }

  /** Tokens that arrived in [from, until) (System.nanoTime). */
  public synchronized long tokensBetween(long from, long until) {
    long n = 0;
    for (long[] a : arrivals) {
      if (a[0] >= from && a[0] < until) {
        n += a[1];
      }
    }
    return n;
  }

  /**
   * Gaps between messages that brought tokens where the later one arrived in [from, until)
   * (System.nanoTime), in nanoseconds: the stream's pace inside a window, however long it ran.
   */
  public synchronized long[] interTokenNanosBetween(long from, long until) {
    long[] out = new long[Math.max(0, arrivals.size() - 1)];
    int n = 0;
    for (int i = 1; i < arrivals.size(); i++) {
      long at = arrivals.get(i)[0];
      if (at >= from && at < until) {
        out[n++] = at - arrivals.get(i - 1)[0];
      }
    }
    return Arrays.copyOf(out, n);
  }

  /** Gaps between messages that brought tokens, in nanoseconds. */
  public long[] interTokenNanos() {
    return interTokenNanosBetween(Long.MIN_VALUE, Long.MAX_VALUE);
  }
}
