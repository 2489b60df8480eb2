package io.arrakis.router.stats;

import io.arrakis.model.placement.ExpertId;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * Tokens per expert, and token-expert pairs and Compute calls per node, kept in one-second buckets
 * for the last {@link #WINDOW_SECONDS} seconds and as totals since start, so that a caller can ask
 * for the load since any point in time (older than the window: since start).
 */
public final class LoadStats {
  public static final int WINDOW_SECONDS = 600;

  /** Load over a span. */
  public record Snapshot(
      long sinceMillis,
      long untilMillis,
      Map<ExpertId, Long> expertTokens,
      Map<String, long[]> nodeTokensAndBatches) {}

  private final Clock clock;
  private final long startMillis;
  private final Bucket totals = new Bucket(0);

  /**
   * One bucket per second of the window, replaced (compare-and-set) when its second comes round
   * again.
   */
  private final AtomicReferenceArray<Bucket> ring = new AtomicReferenceArray<>(WINDOW_SECONDS);

  public LoadStats(Clock clock) {
    this.clock = clock;
    this.startMillis = clock.millis();
  }

  public void recordExperts(Map<ExpertId, Long> tokens) {
    Bucket b = current();
    tokens.forEach(
        (e, n) -> {
          b.expert(e).add(n);
          totals.expert(e).add(n);
        });
  }

  public void recordBatch(String nodeId, long tokens) {
    current().node(nodeId).add(tokens);
    totals.node(nodeId).add(tokens);
  }

  /**
   * The load since {@code sinceMillis} (epoch ms); 0 or anything before the window means since
   * start. Takes no lock: requests keep recording while a reader sums up to {@link #WINDOW_SECONDS}
   * buckets.
   */
  public Snapshot since(long sinceMillis) {
    long now = clock.millis();
    long nowSecond = now / 1000;
    if (sinceMillis <= startMillis || nowSecond - sinceMillis / 1000 >= WINDOW_SECONDS) {
      return snapshot(startMillis, now, List.of(totals));
    }
    List<Bucket> buckets = new ArrayList<>();
    for (long s = sinceMillis / 1000; s <= nowSecond; s++) {
      Bucket b = ring.get((int) (s % WINDOW_SECONDS));
      if (b != null && b.second == s) {
        buckets.add(b);
      }
    }
    return snapshot(sinceMillis / 1000 * 1000, now, buckets);
  }

  private static Snapshot snapshot(long since, long until, List<Bucket> buckets) {
    Map<ExpertId, Long> experts = new TreeMap<>();
    Map<String, long[]> nodes = new TreeMap<>();
    for (Bucket b : buckets) {
      b.experts.forEach((e, n) -> experts.merge(e, n.sum(), Long::sum));
      b.nodes.forEach(
          (id, v) -> {
            long[] t = nodes.computeIfAbsent(id, k -> new long[2]);
            t[0] += v.tokens.sum();
            t[1] += v.batches.sum();
          });
    }
    return new Snapshot(since, until, experts, nodes);
  }

  private Bucket current() {
    long second = clock.millis() / 1000;
    int i = (int) (second % WINDOW_SECONDS);
    while (true) {
      Bucket b = ring.get(i);
      if (b != null && b.second == second) {
        return b;
      }
      Bucket fresh = new Bucket(second);
      if (ring.compareAndSet(i, b, fresh)) {
        return fresh;
      }
    }
  }

  private static final class NodeCounts {
    final LongAdder tokens = new LongAdder();
    final LongAdder batches = new LongAdder();

    void add(long n) {
      tokens.add(n);
      batches.increment();
    }
  }

  private static final class Bucket {
    final long second;
    final Map<ExpertId, LongAdder> experts = new ConcurrentHashMap<>();
    final Map<String, NodeCounts> nodes = new ConcurrentHashMap<>();

    Bucket(long second) {
      this.second = second;
    }

    LongAdder expert(ExpertId e) {
      return experts.computeIfAbsent(e, k -> new LongAdder());
    }

    NodeCounts node(String id) {
      return nodes.computeIfAbsent(id, k -> new NodeCounts());
    }
  }
}
