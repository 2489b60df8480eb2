package io.arrakis.router.admission;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bounds the tokens a router has in flight. A call that would pass the limit is refused at once, so
 * that overload turns into fast RESOURCE_EXHAUSTED answers instead of queues without bound. The
 * limit is fixed, or adaptive (additive increase, multiplicative decrease, in the spirit of
 * Netflix's concurrency-limits): it grows while calls finish within the latency target and shrinks
 * when they do not, between a floor and a ceiling. Free of transport code.
 */
public final class TokenLimiter {
  /** How the limit moves. {@code adaptive} false keeps it at {@code initial}. */
  public record Settings(
      long initial, boolean adaptive, long min, long max, long latencyTargetNanos, double backoff) {
    public Settings {
      if (initial < 1 || min < 1 || max < min || initial < min || initial > max) {
        throw new IllegalArgumentException(
            "admission limits must satisfy 1 <= min <= initial <= max");
      }
      if (backoff <= 0 || backoff >= 1) {
        throw new IllegalArgumentException("admission backoff must be in (0, 1)");
      }
    }

    public static Settings fixed(long limit) {
      return new Settings(limit, false, limit, limit, Long.MAX_VALUE, 0.9);
    }
  }

  private final Settings settings;
  private final AtomicLong inFlight = new AtomicLong();

  /**
   * The limit as a double's bits: releases on many threads move it with compare-and-set, none lost.
   */
  private final AtomicLong limitBits;

  public TokenLimiter(Settings settings) {
    this.settings = settings;
    this.limitBits = new AtomicLong(Double.doubleToRawLongBits(settings.initial()));
  }

  /**
   * Takes {@code tokens} of the limit if they fit. A call larger than the whole limit is let in
   * when nothing else is in flight, so it is slow rather than impossible.
   */
  public boolean tryAcquire(int tokens) {
    while (true) {
      long now = inFlight.get();
      if (now + tokens > limit() && now > 0) {
        return false;
      }
      if (inFlight.compareAndSet(now, now + tokens)) {
        return true;
      }
    }
  }

  /**
   * Gives back what {@link #tryAcquire} took.
   *
   * @param overloaded the call failed for lack of capacity downstream (a node queue full, a
   *     deadline)
   */
  public void release(int tokens, long latencyNanos, boolean overloaded) {
    long after = inFlight.addAndGet(-tokens);
    if (!settings.adaptive()) {
      return;
    }
    boolean backOff = overloaded || latencyNanos > settings.latencyTargetNanos();
    limitBits.updateAndGet(
        bits -> {
          double l = Double.longBitsToDouble(bits);
          if (backOff) {
            l = Math.max(settings.min(), l * settings.backoff());
          } else if (after + tokens >= l * 0.5) {
            // grow only while the limit is actually in use, else it drifts up unchecked when load
            // is light
            l = Math.min(settings.max(), l + (double) tokens * tokens / l);
          }
          return Double.doubleToRawLongBits(l);
        });
  }

  public long limit() {
    return (long) Double.longBitsToDouble(limitBits.get());
  }

  public long inFlight() {
    return inFlight.get();
  }
}
