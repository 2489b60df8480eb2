package io.arrakis.router.stats;

import io.arrakis.model.placement.ExpertId;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Tokens per expert, and token-expert pairs and Compute calls per node, kept in one-second buckets for the last
 * {@link #WINDOW_SECONDS} seconds and as totals since start, so that a caller can ask for the load
 * since any point in time (older than the window: since start).
 */
public final class LoadStats {
  public static final int WINDOW_SECONDS = 600;

  /** Load over a span. */
  public record Snapshot(long sinceMillis, long untilMillis, Map<ExpertId, Long> expertTokens,
      Map<String, long[]> nodeTokensAndBatches) {}

  private final Clock clock;
  private final long startMillis;
  private final Bucket totals = new Bucket(0);
  private final Bucket[] ring = new Bucket[WINDOW_SECONDS];

  public LoadStats(Clock clock) {
    this.clock = clock;
    this.startMillis = clock.millis();
  }

  public synchronized void recordExperts(Map<ExpertId, Long> tokens) {
    Bucket b = current();
    tokens.forEach((e, n) -> {
      b.experts.merge(e, n, Long::sum);
      totals.experts.merge(e, n, Long::sum);
    });
  }

  public synchronized void recordBatch(String nodeId, long tokens) {
    add(current().nodes, nodeId, tokens);
    add(totals.nodes, nodeId, tokens);
  }

  /** The load since {@code sinceMillis} (epoch ms); 0 or anything before the window means since start. */
  public synchronized Snapshot since(long sinceMillis) {
    long now = clock.millis();
    long nowSecond = now / 1000;
    if (sinceMillis <= startMillis || nowSecond - sinceMillis / 1000 >= WINDOW_SECONDS) {
      return snapshot(startMillis, now, totals);
    }
    Bucket sum = new Bucket(0);
    for (long s = sinceMillis / 1000; s <= nowSecond; s++) {
      Bucket b = ring[(int) (s % WINDOW_SECONDS)];
      if (b != null && b.second == s) {
        b.experts.forEach((e, n) -> sum.experts.merge(e, n, Long::sum));
        b.nodes.forEach((id, v) -> {
          long[] t = sum.nodes.computeIfAbsent(id, k -> new long[2]);
          t[0] += v[0];
          t[1] += v[1];
        });
      }
    }
    return snapshot(sinceMillis / 1000 * 1000, now, sum);
  }

  private static Snapshot snapshot(long since, long until, Bucket b) {
    Map<String, long[]> nodes = new TreeMap<>();
    b.nodes.forEach((id, v) -> nodes.put(id, v.clone()));
    return new Snapshot(since, until, new TreeMap<>(b.experts), nodes);
  }

  private Bucket current() {
    long second = clock.millis() / 1000;
    int i = (int) (second % WINDOW_SECONDS);
    if (ring[i] == null || ring[i].second != second) {
      ring[i] = new Bucket(second);
    }
    return ring[i];
  }

  private static void add(Map<String, long[]> nodes, String nodeId, long tokens) {
    long[] v = nodes.computeIfAbsent(nodeId, k -> new long[2]);
    v[0] += tokens;
    v[1] += 1;
  }

  private static final class Bucket {
    final long second;
    final Map<ExpertId, Long> experts = new HashMap<>();
    final Map<String, long[]> nodes = new HashMap<>();

    Bucket(long second) {
      this.second = second;
    }
  }
}
