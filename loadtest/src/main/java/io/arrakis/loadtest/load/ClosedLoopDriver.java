package io.arrakis.loadtest.load;

import io.grpc.ManagedChannel;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Closed-loop load: N callers, each sending its next Forward call as soon as the previous one is
 * answered, for a set duration; then a bounded drain, so that every call is accounted for. Node and
 * expert load come from the router's Cluster service for the measured window.
 */
public final class ClosedLoopDriver {
  /** Past the call deadline, an answer can only be late by scheduling delays. */
  private static final Duration DRAIN_SLACK = Duration.ofSeconds(5);

  private final LoadOptions options;
  private final float[] inputBias;

  /**
   * @param inputBias the model's input bias (see {@link InputSampler}), or null for standard normal
   *     inputs
   */
  public ClosedLoopDriver(LoadOptions options, float[] inputBias) {
    this.options = options;
    this.inputBias = inputBias == null ? null : inputBias.clone();
  }

  public LoadResult run(Progress.Listener listener) throws InterruptedException {
    return TargetSetup.withChannel(options, channel -> run(channel, listener));
  }

  LoadResult run(ManagedChannel channel, Progress.Listener listener) throws InterruptedException {
    TargetSetup.Target target = TargetSetup.Target.prepare(channel, options, inputBias);
    long drainNanos = options.deadline().plus(DRAIN_SLACK).toNanos();
    int hidden = target.model().hidden();
    return target.measure(
        channel,
        options,
        "closed",
        options.concurrency(),
        Double.NaN,
        (name, length, recorder) ->
            runPhase(
                name,
                length,
                recorder,
                new CallIssuer(target.stub(), recorder, options.deadline(), hidden),
                target.pool(),
                drainNanos,
                listener),
        listener);
  }

  private Phase runPhase(
      String name,
      Duration duration,
      LoadRecorder recorder,
      CallIssuer issuer,
      RequestPool pool,
      long drainNanos,
      Progress.Listener listener)
      throws InterruptedException {
    Phase phase = new Phase(name, recorder, duration.toNanos());
    ScheduledExecutorService pauses =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "load-pause");
              t.setDaemon(true);
              return t;
            });
    try {
      for (int i = 0; i < options.concurrency(); i++) {
        new Caller(phase, issuer, pool, pauses).next();
      }
      phase.await(drainNanos, listener);
    } finally {
      pauses.shutdownNow();
    }
    return phase;
  }

  /**
   * One caller of the closed loop: one call in flight at a time, the next sent on the last one's
   * answer. After a failure it pauses briefly: a router that fails calls at once (down, or shedding
   * load) would otherwise meet a busy loop that takes the CPU it shares with the cluster.
   */
  private static final class Caller implements CallIssuer.Done {
    private static final long FAILURE_PAUSE_MS = 20;

    private final Phase phase;
    private final CallIssuer issuer;
    private final RequestPool pool;
    private final ScheduledExecutorService pauses;

    Caller(Phase phase, CallIssuer issuer, RequestPool pool, ScheduledExecutorService pauses) {
      this.phase = phase;
      this.issuer = issuer;
      this.pool = pool;
      this.pauses = pauses;
    }

    void next() {
      if (phase.sending()) {
        issuer.send(pool.next(), System.nanoTime(), this);
      }
    }

    @Override
    public void ended(boolean ok) {
      phase.answered();
      if (ok) {
        next();
        return;
      }
      try {
        pauses.schedule(this::next, FAILURE_PAUSE_MS, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException phaseOver) {
        // the phase has ended: nothing more to send
      }
    }
  }
}
