package io.arrakis.loadtest.simulate;

import java.util.Arrays;

/**
 * What happens in the measured window, after the warm-up: answers, refusals, calls and CPU by
 * place.
 */
final class Window {
  private final double[] latencies;
  private boolean open;
  private double start;
  private int answered;
  private long tokens;
  private long refused;
  private long calls;
  private long callRows;
  private double routerCpu;
  private double routerCallCpu;
  private double nodeCpu;
  private double clientCpu;

  Window(int requests) {
    this.latencies = new double[requests];
  }

  void open(double now) {
    open = true;
    start = now;
  }

  boolean isOpen() {
    return open;
  }

  /** Whether the measured requests have all been answered. */
  boolean full() {
    return answered == latencies.length;
  }

  void answered(double latency, int requestTokens) {
    if (open) {
      latencies[answered++] = latency;
      tokens += requestTokens;
    }
  }

  void refused() {
    if (open) {
      refused++;
    }
  }

  void call(int rows) {
    if (open) {
      calls++;
      callRows += rows;
    }
  }

  void routerCpu(double seconds, boolean perCall) {
    if (open) {
      routerCpu += seconds;
      if (perCall) {
        routerCallCpu += seconds;
      }
    }
  }

  void nodeCpu(double seconds) {
    if (open) {
      nodeCpu += seconds;
    }
  }

  void clientCpu(double seconds) {
    if (open) {
      clientCpu += seconds;
    }
  }

  SimResult result(
      SimConfig config, SimResult.Utilisation util, double now, double balance, long events) {
    double elapsed = now - start;
    double[] sorted = Arrays.copyOf(latencies, answered);
    Arrays.sort(sorted);
    double mean = Arrays.stream(sorted).average().orElse(Double.NaN);
    SimResult.CpuPerRequest cpu =
        new SimResult.CpuPerRequest(routerCpu / answered, nodeCpu / answered, clientCpu / answered);
    double callsPerRequest = (double) calls / answered;
    String bottleneck =
        Bottleneck.name(
            config,
            util,
            routerCallCpu / Math.max(Double.MIN_NORMAL, routerCpu),
            callsPerRequest,
            (double) refused / (refused + answered));
    return new SimResult(
        config.shape().nodes(),
        tokens / elapsed,
        answered / elapsed,
        mean * 1e3,
        percentile(sorted, 50) * 1e3,
        percentile(sorted, 99) * 1e3,
        refused,
        util,
        callsPerRequest,
        calls == 0 ? 0 : (double) callRows / calls,
        balance,
        cpu,
        bottleneck,
        elapsed,
        events);
  }

  /** Nearest rank. */
  private static double percentile(double[] sorted, double p) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    int rank = (int) Math.ceil(p / 100 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
