package io.arrakis.loadtest.load;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.HdrHistogram.Histogram;

/**
 * One timed phase of a run: samples a recorder about once a second (progress and timeline) until
 * the phase ends, then waits, bounded, for the calls still in flight. Whatever sends the calls
 * (closed or open loop) runs beside it and reports each answer through {@link #answered}.
 */
final class Phase {
  private static final long SAMPLE_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final String name;
  private final LoadRecorder recorder;
  private final long startNanos;
  private final long endNanos;

  /** Long.MIN_VALUE until the first answer (nanoTime may be negative). */
  private final AtomicLong lastAnswerNanos = new AtomicLong(Long.MIN_VALUE);

  private final List<TimelinePoint> timeline = new ArrayList<>();
  private long lastSampleNanos;

  Phase(String name, LoadRecorder recorder, long durationNanos) {
    this.name = name;
    this.recorder = recorder;
    this.startNanos = System.nanoTime();
    this.endNanos = startNanos + durationNanos;
    this.lastSampleNanos = startNanos;
  }

  boolean sending() {
    return sending(System.nanoTime());
  }

  /** Whether a call scheduled at {@code nanos} falls inside the phase. */
  boolean sending(long nanos) {
    return nanos - endNanos < 0;
  }

  /** Called by the sender when a call ends. */
  void answered() {
    lastAnswerNanos.accumulateAndGet(System.nanoTime(), Math::max);
  }

  /**
   * Samples until the phase's end, then until no call is in flight or {@code drainNanos} passed.
   */
  void await(long drainNanos, Progress.Listener listener) throws InterruptedException {
    await(drainNanos, listener, () -> false);
  }

  /**
   * As {@link #await(long, Progress.Listener)}, and the drain also waits while {@code senderBusy}:
   * a sender that runs behind its schedule may still send a call it owed before the end.
   */
  void await(long drainNanos, Progress.Listener listener, BooleanSupplier senderBusy)
      throws InterruptedException {
    while (System.nanoTime() - endNanos < 0) {
      sleepUntil(Math.min(endNanos, lastSampleNanos + SAMPLE_NANOS));
      sample(name, (System.nanoTime() - startNanos) / 1e9, (endNanos - startNanos) / 1e9, listener);
    }
    long drainEnd = endNanos + drainNanos;
    long drainStart = System.nanoTime();
    while ((recorder.outstanding() > 0 || senderBusy.getAsBoolean())
        && System.nanoTime() - drainEnd < 0) {
      TimeUnit.MILLISECONDS.sleep(10);
      if (System.nanoTime() - lastSampleNanos >= SAMPLE_NANOS) {
        sample(
            "drain",
            (System.nanoTime() - drainStart) / 1e9,
            (drainEnd - drainStart) / 1e9,
            listener);
      }
    }
    sample(name, 0, 0, Progress.Listener.NONE);
  }

  private void sample(
      String label, double elapsedSeconds, double phaseSeconds, Progress.Listener listener) {
    long now = System.nanoTime();
    double dt = Math.max(1e-9, (now - lastSampleNanos) / 1e9);
    lastSampleNanos = now;
    LoadRecorder.Interval i = recorder.interval();
    Histogram h = i.latencyMicros();
    double p50 = h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(50) / 1000.0;
    double p99 = h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(99) / 1000.0;
    double at = (now - startNanos) / 1e9;
    timeline.add(new TimelinePoint(at, dt, i.ok(), i.failed(), i.tokens(), p50, p99));
    listener.update(
        new Progress(
            label,
            Math.min(elapsedSeconds, phaseSeconds),
            phaseSeconds,
            recorder.okCount(),
            recorder.failedCount(),
            recorder.outstanding(),
            i.tokens() / dt,
            i.ok() / dt,
            p50,
            p99));
  }

  private static void sleepUntil(long nanos) throws InterruptedException {
    long wait = nanos - System.nanoTime();
    if (wait > 0) {
      TimeUnit.NANOSECONDS.sleep(wait);
    }
  }

  /** From the phase's start to the last answer (or to its planned end when nothing answered). */
  double elapsedSeconds() {
    long last = lastAnswerNanos.get();
    return ((last != Long.MIN_VALUE && last - startNanos > 0 ? last : endNanos) - startNanos) / 1e9;
  }

  List<TimelinePoint> timeline() {
    return List.copyOf(timeline);
  }
}
