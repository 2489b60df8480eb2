package io.arrakis.loadtest.load;

import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Open-loop load: calls arrive as a Poisson process at a set rate whatever the router's answers, as
 * real users' requests do. Each call's latency runs from its <em>scheduled</em> send time, not from
 * when it went out: a sender that falls behind (or a router that stalls it) then shows up in the
 * latency instead of silently sending less (coordinated omission; grpc-java's OpenLoopClient does
 * the same). Nothing bounds the calls in flight but their deadline, so an overloaded router shows
 * as latency and DEADLINE_EXCEEDED, never as a lower offered rate.
 */
public final class OpenLoopDriver extends LoadDriver {
  private final double rate;

  /**
   * @param options the run (its concurrency is not used)
   * @param ratePerSecond mean arrivals per second
   * @param inputBias the model's input bias, or null for standard normal inputs
   */
  public OpenLoopDriver(LoadOptions options, double ratePerSecond, float[] inputBias) {
    super(options, inputBias, "open", 0, checked(ratePerSecond));
    this.rate = ratePerSecond;
  }

  @Override
  Loop loop(RequestPool pool) {
    SplittableRandom arrivals = new SplittableRandom(options.seed() * 31 + 7);
    return (name, phase, issuer, drainNanos, listener) -> {
      Thread sender = new Thread(() -> send(phase, issuer, pool, arrivals), "load-open-" + name);
      sender.setDaemon(true);
      sender.start();
      try {
        phase.await(drainNanos, listener, sender::isAlive);
      } finally {
        sender.interrupt();
        sender.join(5_000);
      }
    };
  }

  /**
   * Sends at the scheduled times until the phase ends; late sends go out at once, timed from their
   * schedule.
   */
  private void send(Phase phase, CallIssuer issuer, RequestPool pool, SplittableRandom arrivals) {
    long scheduled = System.nanoTime();
    CallIssuer.Done done = ok -> phase.answered();
    while (!Thread.currentThread().isInterrupted()) {
      scheduled += nextGapNanos(arrivals);
      if (!phase.sending(scheduled)) {
        return; // the next arrival falls after the end: stop now rather than sleep past it
      }
      long wait;
      while ((wait = scheduled - System.nanoTime()) > 0) {
        LockSupport.parkNanos(wait);
        if (Thread.currentThread().isInterrupted()) {
          return;
        }
      }
      issuer.send(pool.next(), scheduled, done);
    }
  }

  private static double checked(double ratePerSecond) {
    if (!(ratePerSecond > 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException(
          "rate must be a positive number of requests per second, got " + ratePerSecond);
    }
    return ratePerSecond;
  }

  /** Exponential gaps make Poisson arrivals. */
  private long nextGapNanos(SplittableRandom random) {
    return (long) (-Math.log(1 - random.nextDouble()) / rate * 1e9);
  }
}
