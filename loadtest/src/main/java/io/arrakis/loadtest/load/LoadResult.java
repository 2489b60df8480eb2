package io.arrakis.loadtest.load;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;

/**
 * The outcome of a load run: every call accounted for (sent = ok + failed + unanswered).
 *
 * @param mode "closed" (N callers) or "open" (Poisson arrivals)
 * @param target router host:port
 * @param concurrency callers of a closed loop (0 for an open loop)
 * @param ratePerSecond requests per second an open loop offered (NaN for a closed loop)
 * @param tokens tokens per request
 * @param layers layers the calls went to
 * @param elapsedSeconds from the first call of the measured phase to the last answer
 * @param sent calls sent
 * @param ok calls answered OK with a well-formed output
 * @param failed calls answered with an error (or a malformed output)
 * @param unanswered calls with no answer by the end of the drain (must be 0)
 * @param byStatus status name → calls, OK included
 * @param tokensOk tokens of the OK calls
 * @param latencyMicros latency of the OK calls
 * @param timeline about one point per second
 * @param load tokens per node and expert from the router, or null where it could not be had
 * @param loadError why {@code load} is null
 * @param skewedInputs whether inputs followed the model's recorded input bias
 */
public record LoadResult(
    String mode,
    String target,
    int concurrency,
    double ratePerSecond,
    TokenCounts tokens,
    List<Integer> layers,
    double elapsedSeconds,
    long sent,
    long ok,
    long failed,
    long unanswered,
    Map<String, Long> byStatus,
    long tokensOk,
    Histogram latencyMicros,
    List<TimelinePoint> timeline,
    ClusterLoad load,
    String loadError,
    boolean skewedInputs) {

  public LoadResult {
    layers = List.copyOf(layers);
    byStatus = new TreeMap<>(byStatus);
    timeline = List.copyOf(timeline);
  }

  /** What a load driver's measured phase gave, as both drivers report it. */
  static LoadResult of(
      String mode,
      LoadOptions options,
      int concurrency,
      double ratePerSecond,
      List<Integer> layers,
      Phase phase,
      LoadRecorder recorder,
      TargetSetup.Load load,
      boolean skewedInputs) {
    return new LoadResult(
        mode,
        options.target(),
        concurrency,
        ratePerSecond,
        options.tokens(),
        layers,
        phase.elapsedSeconds(),
        recorder.sentCount(),
        recorder.okCount(),
        recorder.failedCount(),
        recorder.outstanding(),
        recorder.byStatus(),
        recorder.tokensOk(),
        recorder.totalLatencyMicros(),
        phase.timeline(),
        load.load(),
        load.error(),
        skewedInputs);
  }

  public double tokensPerSecond() {
    return elapsedSeconds > 0 ? tokensOk / elapsedSeconds : 0;
  }

  public double requestsPerSecond() {
    return elapsedSeconds > 0 ? ok / elapsedSeconds : 0;
  }

  /** Latency at a percentile (0–100) in milliseconds; NaN without an OK call. */
  public double latencyMillis(double percentile) {
    return latencyMicros.getTotalCount() == 0
        ? Double.NaN
        : latencyMicros.getValueAtPercentile(percentile) / 1000.0;
  }

  public double maxLatencyMillis() {
    return latencyMicros.getTotalCount() == 0 ? Double.NaN : latencyMicros.getMaxValue() / 1000.0;
  }
}
