package io.arrakis.loadtest.load;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Counts every call of a run and records the latency of the successful ones, from any thread
 * without locks. {@link #interval} hands out what happened since its last call (for the progress
 * line and the timeline); the totals accumulate as intervals are taken.
 */
public final class LoadRecorder {
  /** Latencies up to an hour, three significant digits, in microseconds. */
  static final long MAX_MICROS = TimeUnit.HOURS.toMicros(1);

  public static final String OK = "OK";

  private final LongAdder sent = new LongAdder();
  private final LongAdder ok = new LongAdder();
  private final LongAdder failed = new LongAdder();
  private final LongAdder tokensOk = new LongAdder();
  private final Map<String, LongAdder> byStatus = new ConcurrentHashMap<>();
  private final Recorder latency = new Recorder(MAX_MICROS, 3);
  private final Histogram total = new Histogram(MAX_MICROS, 3);
  private Histogram recycled;
  private long lastOk;
  private long lastFailed;
  private long lastTokens;

  /** What happened in one interval. */
  public record Interval(long ok, long failed, long tokens, Histogram latencyMicros) {}

  public void sent() {
    sent.increment();
  }

  public void ok(long latencyNanos, int tokens) {
    latency.recordValue(
        Math.min(MAX_MICROS, Math.max(1, TimeUnit.NANOSECONDS.toMicros(latencyNanos))));
    tokensOk.add(tokens);
    byStatus.computeIfAbsent(OK, k -> new LongAdder()).increment();
    ok.increment();
  }

  /** A call that ended with a status other than OK ({@code status} names it, e.g. UNAVAILABLE). */
  public void failed(String status) {
    byStatus.computeIfAbsent(status, k -> new LongAdder()).increment();
    failed.increment();
  }

  public long sentCount() {
    return sent.sum();
  }

  public long okCount() {
    return ok.sum();
  }

  public long failedCount() {
    return failed.sum();
  }

  /** Calls sent and not yet answered (by a response or an error). */
  public long outstanding() {
    return sent.sum() - ok.sum() - failed.sum();
  }

  /** Since the previous interval; single caller (the run's sampling thread). */
  public synchronized Interval interval() {
    Histogram h = latency.getIntervalHistogram(recycled);
    total.add(h);
    long o = ok.sum();
    long f = failed.sum();
    long t = tokensOk.sum();
    Interval i = new Interval(o - lastOk, f - lastFailed, t - lastTokens, h.copy());
    recycled = h;
    lastOk = o;
    lastFailed = f;
    lastTokens = t;
    return i;
  }

  /** The latencies of every interval taken so far, microseconds: take a last interval first. */
  public synchronized Histogram totalLatencyMicros() {
    return total.copy();
  }

  public long tokensOk() {
    return tokensOk.sum();
  }

  /** Status name → calls, sorted by name. */
  public Map<String, Long> byStatus() {
    Map<String, Long> out = new TreeMap<>();
    byStatus.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }
}
