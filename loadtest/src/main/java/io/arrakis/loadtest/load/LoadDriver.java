package io.arrakis.loadtest.load;

import io.grpc.ManagedChannel;
import java.time.Duration;

/**
 * A way of driving Forward load against a router, closed loop or open loop: what both share is the
 * target's preparation (its model, a pool of requests) and a drain bounded by the call deadline.
 */
public abstract sealed class LoadDriver permits ClosedLoopDriver, OpenLoopDriver {
  /** Past the call deadline, an answer can only be late by scheduling delays. */
  private static final Duration DRAIN_SLACK = Duration.ofSeconds(5);

  final LoadOptions options;
  private final float[] inputBias;
  private final String mode;
  private final int concurrency;
  private final double rate;

  /**
   * @param inputBias the model's input bias (see {@link InputSampler}), or null for standard normal
   *     inputs
   * @param mode the report's name for the loop ("closed" or "open")
   * @param concurrency callers of a closed loop (0 for an open one)
   * @param rate requests per second of an open loop (NaN for a closed one)
   */
  LoadDriver(LoadOptions options, float[] inputBias, String mode, int concurrency, double rate) {
    this.options = options;
    this.inputBias = inputBias == null ? null : inputBias.clone();
    this.mode = mode;
    this.concurrency = concurrency;
    this.rate = rate;
  }

  /** Runs the load on a channel of its own to the options' target. */
  public final LoadResult run(Progress.Listener listener) throws InterruptedException {
    return TargetSetup.withChannel(options, channel -> run(channel, listener));
  }

  final LoadResult run(ManagedChannel channel, Progress.Listener listener)
      throws InterruptedException {
    TargetSetup.Target target = TargetSetup.Target.prepare(channel, options, inputBias);
    long drainNanos = options.deadline().plus(DRAIN_SLACK).toNanos();
    int hidden = target.model().hidden();
    Loop loop = loop(target.pool());
    return target.measure(
        channel,
        options,
        mode,
        concurrency,
        rate,
        (name, length, recorder) -> {
          Phase phase = new Phase(name, recorder, length.toNanos());
          CallIssuer issuer = new CallIssuer(target.stub(), recorder, options.deadline(), hidden);
          loop.drive(name, phase, issuer, drainNanos, listener);
          return phase;
        },
        listener);
  }

  /** Sends a phase's calls (the warm-up's, the measured run's) and drains them. */
  interface Loop {
    /** Drives {@code phase} through {@code issuer}; drains for at most {@code drainNanos}. */
    void drive(
        String name, Phase phase, CallIssuer issuer, long drainNanos, Progress.Listener listener)
        throws InterruptedException;
  }

  /** The loop of one run, its requests from {@code pool}. */
  abstract Loop loop(RequestPool pool);
}
