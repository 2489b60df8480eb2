package io.arrakis.loadtest.serve;

import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.load.Progress;
import io.grpc.Channel;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One serving load test: the load, a progress report about once a second (phase, output tokens and
 * requests per second of the last second, end-to-end latency so far, streams open), then the
 * router's load stats for the window (tokens per expert node) when its admin service answers.
 */
public final class ServingBenchmark {
  private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(10);

  private ServingBenchmark() {}

  /**
   * Runs the load test against a router and collects its figures.
   *
   * @param admin a channel to the router's admin Cluster service (its credentials attached), or
   *     null to skip the node load
   */
  public static ServingRun run(
      String backend,
      String target,
      ServingLoad.Client client,
      ServingLoad.Options options,
      Channel admin,
      Progress.Listener progress)
      throws InterruptedException {
    ServingLoad load = new ServingLoad(client, options);
    long startMs = System.currentTimeMillis();
    long windowMs = startMs + options.warmup().toMillis();
    AtomicReference<ServingResult> live = new AtomicReference<>();
    ScheduledExecutorService ticker =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "serving-progress");
              t.setDaemon(true);
              return t;
            });
    long[] last = {0, 0, System.nanoTime()};
    ScheduledFuture<?> ticks =
        ticker.scheduleAtFixedRate(
            () -> progress.update(progress(load, live.get(), options, startMs, windowMs, last)),
            1,
            1,
            TimeUnit.SECONDS);
    ServingResult result;
    try {
      result = load.run(live::set);
    } finally {
      ticker.shutdownNow();
      ticker.awaitTermination(5, TimeUnit.SECONDS);
      progress.finish();
    }
    // a report that threw stopped the reports there; a bug, so it is not passed over
    if (ticks.isDone() && !ticks.isCancelled()) {
      try {
        ticks.get();
      } catch (ExecutionException e) {
        throw new IllegalStateException("the progress report failed", e.getCause());
      }
    }
    if (admin == null) {
      return new ServingRun(backend, target, options, result, null, "no admin target");
    }
    try {
      return new ServingRun(
          backend,
          target,
          options,
          result,
          ClusterLoad.fetch(admin, windowMs, ADMIN_TIMEOUT),
          null);
    } catch (StatusRuntimeException e) {
      return new ServingRun(
          backend,
          target,
          options,
          result,
          null,
          "the router's GetLoadStats failed: " + e.getStatus().getCode());
    }
  }

  private static Progress progress(
      ServingLoad load,
      ServingResult result,
      ServingLoad.Options o,
      long startMs,
      long windowMs,
      long[] last) {
    long now = System.currentTimeMillis();
    long ok = result == null ? 0 : result.requests();
    long failed = result == null ? 0 : result.failed();
    String phase;
    double elapsed;
    double length;
    if (now < windowMs) {
      phase = "warm-up";
      elapsed = (now - startMs) / 1e3;
      length = o.warmup().toMillis() / 1e3;
    } else if (o.byCount()) {
      phase = Progress.PROMPTS;
      elapsed = ok + failed;
      length = o.numPrompts();
    } else {
      long endMs = windowMs + o.duration().toMillis();
      phase = now < endMs ? "load" : "drain";
      elapsed = (now - (now < endMs ? windowMs : endMs)) / 1e3;
      length = now < endMs ? o.duration().toMillis() / 1e3 : 0;
    }
    long tokens = load.tokens();
    long started = load.started();
    long nanos = System.nanoTime();
    double seconds = Math.max(1e-3, (nanos - last[2]) / 1e9);
    double tokensPerS = (tokens - last[0]) / seconds;
    double startsPerS = (started - last[1]) / seconds;
    last[0] = tokens;
    last[1] = started;
    last[2] = nanos;
    double p50 = result == null ? Double.NaN : result.ms("e2e", 50);
    double p99 = result == null ? Double.NaN : result.ms("e2e", 99);
    return new Progress(
        phase, elapsed, length, ok, failed, load.inFlight(), tokensPerS, startsPerS, p50, p99);
  }
}
