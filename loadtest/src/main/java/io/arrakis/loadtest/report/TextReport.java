package io.arrakis.loadtest.report;

import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.load.LoadRecorder;
import io.arrakis.loadtest.load.LoadResult;
import java.util.Locale;
import java.util.Map;

/** A load run as a few lines for a person. */
public final class TextReport {
  private static final int BAR = 30;

  private TextReport() {}

  public static String render(LoadResult r) {
    StringBuilder sb = new StringBuilder();
    String how =
        r.mode().equals("open")
            ? String.format(Locale.ROOT, "%,.1f requests/s offered (Poisson)", r.ratePerSecond())
            : r.concurrency() + " callers";
    line(
        sb,
        "load        %s loop, %s, %s tokens/request, layers %s, %.1f s against %s",
        r.mode(),
        how,
        r.tokens(),
        r.layers(),
        r.elapsedSeconds(),
        r.target());
    line(
        sb,
        "inputs      %s",
        r.skewedInputs()
            ? "model's input bias + N(0, 1): routing follows its skew"
            : "N(0, 1): no input bias known (a generated model records one; --model DIR reads it)");
    line(
        sb,
        "requests    sent %,d  ok %,d  failed %,d  unanswered %,d",
        r.sent(),
        r.ok(),
        r.failed(),
        r.unanswered());
    for (Map.Entry<String, Long> e : r.byStatus().entrySet()) {
      if (!e.getKey().equals(LoadRecorder.OK)) {
        line(sb, "            %s: %,d", e.getKey(), e.getValue());
      }
    }
    line(
        sb,
        "throughput  %,.0f tokens/s  %,.1f requests/s",
        r.tokensPerSecond(),
        r.requestsPerSecond());
    line(
        sb,
        "latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
        ms(r.latencyMillis(50)),
        ms(r.latencyMillis(90)),
        ms(r.latencyMillis(99)),
        ms(r.latencyMillis(99.9)),
        ms(r.maxLatencyMillis()));
    ClusterLoad load = r.load();
    if (load == null) {
      line(sb, "node load   unknown: %s", r.loadError());
    } else {
      nodes(sb, load);
    }
    return sb.toString();
  }

  private static void nodes(StringBuilder sb, ClusterLoad load) {
    long total = load.totalTokens();
    long max = load.nodeTokens().values().stream().mapToLong(Long::longValue).max().orElse(0);
    line(sb, "node load   tokens per expert node, as the router's Cluster stats count them:");
    int idWidth = load.nodeTokens().keySet().stream().mapToInt(String::length).max().orElse(8);
    for (Map.Entry<String, Long> e : load.nodeTokens().entrySet()) {
      long v = e.getValue();
      int bar = max == 0 ? 0 : (int) Math.round((double) v / max * BAR);
      line(
          sb,
          "  %-" + idWidth + "s %,12d %5.1f%%  %s",
          e.getKey(),
          v,
          total == 0 ? 0.0 : 100.0 * v / total,
          "#".repeat(bar));
    }
    line(
        sb,
        "imbalance   %s (max / mean node load; 1.00 = even)",
        Double.isNaN(load.imbalance())
            ? "-"
            : String.format(Locale.ROOT, "%.2f", load.imbalance()));
  }

  private static String ms(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, v < 10 ? "%.2f ms" : "%.1f ms", v);
  }

  private static void line(StringBuilder sb, String format, Object... args) {
    sb.append(String.format(Locale.ROOT, format, args)).append('\n');
  }
}
