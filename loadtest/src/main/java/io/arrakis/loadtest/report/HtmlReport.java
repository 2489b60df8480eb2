package io.arrakis.loadtest.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.load.LoadResult;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A load run as one self-contained HTML page: a summary and inline SVG charts of throughput and
 * latency over time, tokens per node and a layer × expert heat map. Everything is drawn from the
 * JSON report ({@link JsonReport#toJson}), so the page and the JSON never disagree; the JSON is
 * embedded too, for whoever wants the numbers. Nothing is fetched: the page opens offline.
 */
public final class HtmlReport {
  private HtmlReport() {}

  public static String render(LoadResult r) {
    ObjectNode json = JsonReport.toJson(r);
    StringBuilder sb = new StringBuilder();
    sb.append(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Arrakis load test</title>\n")
        .append(
            "<style>body{font-family:sans-serif;margin:2em;color:#222}svg{display:block;margin:0.5em 0 2em}")
        .append(
            "svg text{font-size:11px}td,th{padding:2px 12px 2px 0;text-align:left}</style>\n</head><body>\n");
    sb.append("<h1>Arrakis load test</h1>\n<pre>")
        .append(Svg.esc(TextReport.render(r)))
        .append("</pre>\n");

    double[] t = column(json.path("timeline"), "t_s");
    double[] seconds = column(json.path("timeline"), "interval_s");
    double[] tokens = column(json.path("timeline"), "tokens");
    double[] ok = column(json.path("timeline"), "ok");
    double[] tokensPerS = new double[t.length];
    double[] requestsPerS = new double[t.length];
    for (int i = 0; i < t.length; i++) {
      tokensPerS[i] = seconds[i] > 0 ? tokens[i] / seconds[i] : Double.NaN;
      requestsPerS[i] = seconds[i] > 0 ? ok[i] / seconds[i] : Double.NaN;
    }
    sb.append("<h2>Throughput over time</h2>\n")
        .append(
            Svg.lineChart(
                "throughput", "tokens/s", t, List.of(new Svg.Series("tokens/s", tokensPerS))))
        .append(
            Svg.lineChart(
                "requests", "requests/s", t, List.of(new Svg.Series("requests/s", requestsPerS))));
    sb.append("<h2>Latency over time</h2>\n")
        .append(
            Svg.lineChart(
                "latency",
                "ms",
                t,
                List.of(
                    new Svg.Series("p50", column(json.path("timeline"), "p50_ms")),
                    new Svg.Series("p99", column(json.path("timeline"), "p99_ms")))));

    sb.append("<h2>Tokens per node</h2>\n");
    JsonNode nodes = json.path("node_load");
    if (nodes.isObject() && nodes.size() > 0) {
      sb.append(nodeLoadChart("node-load", nodes));
      sb.append(
          String.format(
              Locale.ROOT,
              "<p>imbalance (max ÷ mean node load): %s</p>\n",
              json.path("imbalance").isNumber()
                  ? String.format(Locale.ROOT, "%.2f", json.path("imbalance").asDouble())
                  : "-"));
    } else {
      sb.append("<p>unknown: ").append(Svg.esc(String.valueOf(r.loadError()))).append("</p>\n");
    }

    sb.append("<h2>Tokens per expert (layer × expert)</h2>\n");
    JsonNode experts = json.path("expert_load");
    if (experts.isObject() && experts.size() > 0) {
      List<String> rows = new ArrayList<>();
      long[][] cells = new long[experts.size()][];
      int i = 0;
      for (Map.Entry<String, JsonNode> e : experts.properties()) {
        rows.add("layer " + e.getKey());
        cells[i] = new long[e.getValue().size()];
        for (int c = 0; c < cells[i].length; c++) {
          cells[i][c] = e.getValue().get(c).asLong();
        }
        i++;
      }
      sb.append(Svg.heatMap("expert-heatmap", rows, cells));
    } else {
      sb.append("<p>unknown</p>\n");
    }
    // </script> cannot occur in the JSON: every '<' is escaped
    sb.append("<script type=\"application/json\" id=\"report-data\">\n")
        .append(JsonReport.write(r).replace("<", "\\u003c"))
        .append("</script>\n</body></html>\n");
    return sb.toString();
  }

  public static void write(LoadResult r, Path file) throws IOException {
    ReportFiles.write(file, render(r));
  }

  /** One numeric field of every timeline point; NaN where it is null. */
  private static double[] column(JsonNode timeline, String field) {
    double[] out = new double[timeline.size()];
    for (int i = 0; i < out.length; i++) {
      JsonNode v = timeline.get(i).get(field);
      out[i] = v == null || !v.isNumber() ? Double.NaN : v.asDouble();
    }
    return out;
  }

  /** A bar chart of a JSON object's numbers by key: tokens per node, as both reports draw it. */
  static String nodeLoadChart(String id, JsonNode nodes) {
    List<String> ids = new ArrayList<>();
    double[] values = new double[nodes.size()];
    int i = 0;
    for (Map.Entry<String, JsonNode> e : nodes.properties()) {
      ids.add(e.getKey());
      values[i++] = e.getValue().asDouble();
    }
    return Svg.barChart(id, "tokens", ids, values);
  }
}
