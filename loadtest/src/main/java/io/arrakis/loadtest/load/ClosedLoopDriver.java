package io.arrakis.loadtest.load;

import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closed-loop load: N callers, each sending its next Forward call as soon as the previous one is
 * answered, for a set duration; then a bounded drain, so that every call is accounted for. Node and
 * expert load come from the router's Cluster service for the measured window.
 */
public final class ClosedLoopDriver extends LoadDriver {
  /**
   * @param inputBias the model's input bias (see {@link InputSampler}), or null for standard normal
   *     inputs
   */
  public ClosedLoopDriver(LoadOptions options, float[] inputBias) {
    super(options, inputBias, "closed", options.concurrency(), Double.NaN);
  }

  @Override
  Loop loop(RequestPool pool) {
    return (name, phase, issuer, drainNanos, listener) -> {
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
    };
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
        // nothing to wait for: the pause's end sends the next call, or the phase is over by then
        ScheduledFuture<?> unused =
            pauses.schedule(this::next, FAILURE_PAUSE_MS, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException phaseOver) {
        // the phase has ended: nothing more to send
      }
    }
  }
}
