package io.arrakis.loadtest.serve;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;

/**
 * What a serving load run measured, with vLLM's definitions: time to first token; time per output
 * token = (end-to-end − TTFT) ÷ (output tokens − 1) per request; inter-token latency between
 * consecutive token messages; end-to-end latency (all of requests started in the measured window);
 * output tokens per second = tokens that arrived in the measured window ÷ its length. Also as
 * {@code vllm bench serve} counts throughput: the successful requests' tokens over the benchmark's
 * duration (from the window's start to the last measured request's end); and output tokens per
 * second of the window, second by second.
 */
public final class ServingResult {
  private final Histogram ttft = histogram();
  private final Histogram tpot = histogram();
  private final Histogram itl = histogram();
  private final Histogram e2e = histogram();
  private final Histogram windowItl = histogram();
  private final Map<String, Long> failures = new TreeMap<>();
  private final List<Double> ttftMs = new ArrayList<>();
  private final List<Double> tpotMs = new ArrayList<>();

  /** An open-ended window's timeline stops growing here (a day). */
  private static final int MAX_TIMELINE_SECONDS = 86_400;

  private long[] timeline = new long[0];
  private long lastEndNanos = Long.MIN_VALUE;
  private boolean openEnded;
  private long windowStartNanos;
  private long requests;
  private long outputTokens;
  private long windowTokens;
  private long promptTokens;
  private double seconds;

  private static Histogram histogram() {
    return new Histogram(3_600_000_000_000L, 3); // nanoseconds up to an hour
  }

  /** A finished request of the measured window. */
  synchronized void record(StreamedCall c, int prompt) {
    TokenArrivals times = c.arrivals();
    lastEndNanos = Math.max(lastEndNanos, times.endNanos());
    if (!c.ok()) {
      failures.merge(c.failure(), 1L, Long::sum);
      return;
    }
    requests++;
    int n = c.tokenCount();
    outputTokens += n;
    promptTokens += prompt;
    long first = times.ttftNanos();
    if (first >= 0) {
      ttft.recordValue(first);
      ttftMs.add(first / 1e6);
      if (n > 1) {
        long perToken = (times.e2eNanos() - first) / (n - 1);
        tpot.recordValue(perToken);
        tpotMs.add(perToken / 1e6);
      }
    }
    for (long gap : times.interTokenNanos()) {
      itl.recordValue(gap);
    }
    e2e.recordValue(times.e2eNanos());
  }

  /** Tokens that arrived in the measured window, whenever their request started. */
  synchronized void windowTokens(long n) {
    windowTokens += n;
  }

  /**
   * Gaps between token messages whose later message arrived in the measured window, whenever their
   * request started ("window_itl"): where every request outlasts the window, as in a closed loop of
   * many long streams, no request of the window ends and TPOT and ITL have no values, but the pace
   * of the window's tokens is still measured.
   */
  synchronized void windowGaps(long[] gapsNanos) {
    for (long g : gapsNanos) {
      windowItl.recordValue(g);
    }
  }

  synchronized void seconds(double s) {
    seconds = s;
  }

  /**
   * The measured window opens at {@code nanos} (System.nanoTime) and lasts {@code seconds}, or, for
   * 0, until the last measured request ends.
   */
  synchronized void window(long nanos, int seconds) {
    windowStartNanos = nanos;
    openEnded = seconds <= 0;
    timeline = new long[Math.max(1, seconds)];
  }

  /** {@code n} tokens arrived at {@code nanos}: counted in the timeline when in the window. */
  synchronized void arrived(long nanos, int n) {
    long i = (nanos - windowStartNanos) / 1_000_000_000L;
    if (openEnded && i >= timeline.length && i < MAX_TIMELINE_SECONDS) {
      timeline = Arrays.copyOf(timeline, (int) Math.min(MAX_TIMELINE_SECONDS, 2 * (i + 1)));
    }
    if (i >= 0 && i < timeline.length) {
      timeline[(int) i] += n;
    }
  }

  /** Output tokens that arrived in each second of the measured window. */
  public synchronized long[] timeline() {
    if (!openEnded) {
      return timeline.clone();
    }
    int seconds = (int) Math.min(timeline.length, Math.max(1, Math.ceil(benchmarkSeconds())));
    return Arrays.copyOf(timeline, seconds);
  }

  /** From the window's start to the last measured request's end, in seconds (vLLM's duration). */
  public synchronized double benchmarkSeconds() {
    return lastEndNanos != Long.MIN_VALUE && lastEndNanos - windowStartNanos > 0
        ? (lastEndNanos - windowStartNanos) / 1e9
        : seconds;
  }

  /** Prompt tokens of the successful measured requests. */
  public synchronized long promptTokens() {
    return promptTokens;
  }

  /** Successful requests ÷ the benchmark's duration, as vLLM's request throughput. */
  public synchronized double benchRequestsPerS() {
    return requests / benchmarkSeconds();
  }

  /** Their output tokens ÷ the benchmark's duration, as vLLM's output token throughput. */
  public synchronized double benchOutputTokensPerS() {
    return outputTokens / benchmarkSeconds();
  }

  /** Their prompt and output tokens ÷ the benchmark's duration. */
  public synchronized double benchTotalTokensPerS() {
    return (promptTokens + outputTokens) / benchmarkSeconds();
  }

  /** Each successful request's time to first token, in milliseconds, in order of ending. */
  public synchronized List<Double> ttftValuesMs() {
    return List.copyOf(ttftMs);
  }

  /** Each successful request's time per output token, in milliseconds. */
  public synchronized List<Double> tpotValuesMs() {
    return List.copyOf(tpotMs);
  }

  /** Standard deviation of a measure, in milliseconds. */
  public synchronized double stdMs(String measure) {
    Histogram h = histogram(measure);
    return h.getTotalCount() == 0 ? Double.NaN : h.getStdDeviation() / 1e6;
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

  /**
   * Milliseconds at percentile p of a measure: "ttft", "tpot", "itl", "e2e" or "window_itl" ({@link
   * #windowGaps}).
   */
  public synchronized double ms(String measure, double p) {
    Histogram h = histogram(measure);
    return h.getTotalCount() == 0 ? Double.NaN : h.getValueAtPercentile(p) / 1e6;
  }

  public synchronized double meanMs(String measure) {
    Histogram h = histogram(measure);
    return h.getTotalCount() == 0 ? Double.NaN : h.getMean() / 1e6;
  }

  private Histogram histogram(String measure) {
    return switch (measure) {
      case "ttft" -> ttft;
      case "tpot" -> tpot;
      case "itl" -> itl;
      case "e2e" -> e2e;
      case "window_itl" -> windowItl;
      default -> throw new IllegalArgumentException(measure);
    };
  }
}
