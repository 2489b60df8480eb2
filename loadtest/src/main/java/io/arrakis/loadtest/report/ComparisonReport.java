package io.arrakis.loadtest.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.placement.StrategyComparison.Outcome;
import io.arrakis.loadtest.placement.StrategyComparison.Row;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A placement comparison ({@code placement compare}) as a side-by-side table, as JSON ({@code
 * {"nodes", "slots_per_node", "variants": [{"strategy", "copies_per_layer", "experts_moved",
 * "predicted_balance", "imbalance", "tokens_per_s", "latency_ms": {…}, "sent", "ok", "failed",
 * "unanswered"}, …]}}) and as one self-contained HTML page with bar charts.
 */
public final class ComparisonReport {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ComparisonReport() {}

  public static String table(Outcome o) {
    int width =
        Math.max(8, o.rows().stream().mapToInt(r -> r.variant().label().length()).max().orElse(8));
    StringBuilder sb = new StringBuilder();
    String head = "%-" + width + "s %8s %6s %9s %9s %11s %9s %9s %7s%n";
    sb.append(
        String.format(
            Locale.ROOT,
            head,
            "strategy",
            "copies",
            "moved",
            "predicted",
            "measured",
            "tokens/s",
            "p50 ms",
            "p99 ms",
            "failed"));
    for (Row r : o.rows()) {
      LoadResult l = r.result();
      sb.append(
          String.format(
              Locale.ROOT,
              "%-" + width + "s %8.1f %6d %9.3f %9s %,11.0f %9.2f %9.2f %7d%n",
              r.variant().label(),
              r.copiesPerLayer(),
              r.moved(),
              r.predicted().mean(),
              imbalance(l),
              l.tokensPerSecond(),
              l.latencyMillis(50),
              l.latencyMillis(99),
              l.failed() + l.unanswered()));
    }
    sb.append(
        String.format(
            Locale.ROOT,
            "%d nodes x %d slots per layer. copies: expert copies per layer; moved: "
                + "experts loaded onto a node that did not hold them at the start; predicted: the planner's max/mean node load "
                + "for the profiled loads; measured: max/mean node load the router counted (1.00 = even).%n",
            o.nodes(),
            o.slotsPerNode()));
    return sb.toString();
  }

  public static ObjectNode toJson(Outcome o) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("nodes", o.nodes());
    root.put("slots_per_node", o.slotsPerNode());
    ArrayNode variants = root.putArray("variants");
    for (Row r : o.rows()) {
      ObjectNode v = variants.addObject();
      v.put("strategy", r.variant().label());
      v.put("copies_per_layer", r.copiesPerLayer());
      v.put("experts_moved", r.moved());
      v.put("predicted_balance", JsonReport.round(r.predicted().mean(), 4));
      ObjectNode run = JsonReport.toJson(r.result());
      v.set("imbalance", run.get("imbalance"));
      v.set("tokens_per_s", run.get("tokens_per_s"));
      v.set("latency_ms", run.get("latency_ms"));
      for (String f : List.of("sent", "ok", "failed", "unanswered", "by_status", "node_load")) {
        v.set(f, run.get(f));
      }
    }
    return root;
  }

  public static void writeJson(Outcome o, Path file) throws IOException {
    ReportFiles.write(file, MAPPER.writeValueAsString(toJson(o)) + "\n");
  }

  public static String html(Outcome o) {
    List<String> labels = o.rows().stream().map(r -> r.variant().label()).toList();
    StringBuilder sb = new StringBuilder();
    sb.append(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Arrakis placement comparison</title>\n")
        .append(
            "<style>body{font-family:sans-serif;margin:2em;color:#222}svg{display:block;margin:0.5em 0 2em}")
        .append(
            "svg text{font-size:11px}</style>\n</head><body>\n<h1>Arrakis placement comparison</h1>\n<pre>")
        .append(Svg.esc(table(o)))
        .append("</pre>\n");
    sb.append("<h2>Throughput</h2>\n")
        .append(
            Svg.barChart(
                "tokens",
                "tokens/s",
                labels,
                o.rows().stream().mapToDouble(r -> r.result().tokensPerSecond()).toArray()));
    sb.append("<h2>p99 latency</h2>\n")
        .append(
            Svg.barChart(
                "p99",
                "ms",
                labels,
                o.rows().stream().mapToDouble(r -> r.result().latencyMillis(99)).toArray()));
    sb.append("<h2>Imbalance (max ÷ mean node load, measured)</h2>\n")
        .append(
            Svg.barChart(
                "imbalance",
                "max/mean",
                labels,
                o.rows().stream().mapToDouble(r -> r.result().load().imbalance()).toArray()));
    sb.append("<h2>Experts moved from the starting placement</h2>\n")
        .append(
            Svg.barChart(
                "moved", "experts", labels, o.rows().stream().mapToDouble(Row::moved).toArray()));
    // </script> cannot occur in the JSON: every '<' is escaped
    try {
      sb.append("<script type=\"application/json\" id=\"report-data\">\n")
          .append(MAPPER.writeValueAsString(toJson(o)).replace("<", "\\u003c"))
          .append("</script>\n");
    } catch (IOException e) {
      throw new IllegalStateException("cannot render the comparison as JSON", e);
    }
    return sb.append("</body></html>\n").toString();
  }

  public static void writeHtml(Outcome o, Path file) throws IOException {
    ReportFiles.write(file, html(o));
  }

  private static String imbalance(LoadResult l) {
    double v = l.load() == null ? Double.NaN : l.load().imbalance();
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.2f", v);
  }
}
