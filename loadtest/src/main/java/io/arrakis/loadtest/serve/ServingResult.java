package io.arrakis.loadtest.serve;

import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;

/**
 * What a serving load run measured, with vLLM's definitions: time to first token; time per output
 * token = (end-to-end − TTFT) ÷ (output tokens − 1) per request; inter-token latency between
 * consecutive token messages; end-to-end latency (all of requests started in the measured window);
 * output tokens per second = tokens that arrived in the measured window ÷ its length.
 */
public final class ServingResult {
  private final Histogram ttft = histogram();
  private final Histogram tpot = histogram();
  private final Histogram itl = histogram();
  private final Histogram e2e = histogram();
  private final Map<String, Long> failures = new TreeMap<>();
  private long requests;
  private long outputTokens;
  private long windowTokens;
  private long promptTokens;
  private double seconds;

  private static Histogram histogram() {
    return new Histogram(3_600_000_000_000L, 3); // nanoseconds up to an hour
  }

  /** A finished request of the measured window. */
  synchronized void record(GenerateCall c, int prompt) {
    if (!c.ok()) {
      failures.merge(c.status().getCode().name(), 1L, Long::sum);
      return;
    }
    requests++;
    int n = c.tokens().length;
    outputTokens += n;
    promptTokens += prompt;
    long first = c.ttftNanos();
    if (first >= 0) {
      ttft.recordValue(first);
      if (n > 1) {
        tpot.recordValue((c.e2eNanos() - first) / (n - 1));
      }
    }
    for (long gap : c.interTokenNanos()) {
      itl.recordValue(gap);
    }
    e2e.recordValue(c.e2eNanos());
  }

  /** Tokens that arrived in the measured window, whenever their request started. */
  synchronized void windowTokens(long n) {
    windowTokens += n;
  }

  synchronized void seconds(double s) {
    seconds = s;
  }

  public synchronized long requests() {
    return requests;
  }

  public synchronized long failed() {
    return failures.values().stream().mapToLong(Long::longValue).sum();
  }

  public synchronized Map<String, Long> failures() {
    return Map.copyOf(failures);
  }

  public synchronized long outputTokens() {
    return outputTokens;
  }

  public synchronized double seconds() {
    return seconds;
  }

  /** Output tokens per second: those that arrived in the measured window over its length. */
  public synchronized double outputTokensPerS() {
    return windowTokens / seconds;
  }

  public synchronized double requestsPerS() {
    return requests / seconds;
  }

  /** Milliseconds at percentile p of a measure: "ttft", "tpot", "itl" or "e2e". */
  public synchronized double ms(String measure, double p) {
    Histogram h =
        switch (measure) {
          case "ttft" -> ttft;
          case "tpot" -> tpot;
          case "itl" -> itl;
          case "e2e" -> e2e;
          default -> throw new IllegalArgumentException(measure);
        };
    return h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(p) / 1e6;
  }

  public synchronized double meanMs(String measure) {
    Histogram h =
        switch (measure) {
          case "ttft" -> ttft;
          case "tpot" -> tpot;
          case "itl" -> itl;
          default -> e2e;
        };
    return h.getTotalCount() == 0 ? Double.NaN : h.getMean() / 1e6;
  }
}
