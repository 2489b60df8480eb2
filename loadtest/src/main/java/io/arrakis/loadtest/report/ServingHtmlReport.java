package io.arrakis.loadtest.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.serve.ServingRun;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A serving load test as one self-contained HTML page: the text report, then inline SVG charts of
 * the TTFT and TPOT distributions (requests per latency bucket), output tokens per second of the
 * window, and tokens per expert node. Drawn from the JSON report, which is embedded too; nothing is
 * fetched, so the page opens offline.
 */
public final class ServingHtmlReport {
  /** Buckets of a distribution chart. */
  private static final int BUCKETS = 12;

  /** The charts' element ids, in page order. */
  public static final List<String> CHARTS =
      List.of("ttft-distribution", "tpot-distribution", "throughput", "node-load");

  private ServingHtmlReport() {}

  public static String render(ServingRun run) {
    ObjectNode json = ServingReport.toJson(run);
    StringBuilder sb = new StringBuilder();
    sb.append(
            """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Arrakis serving load test</title>
            """)
        .append(
            "<style>body{font-family:sans-serif;margin:2em;color:#222}"
                + "svg{display:block;margin:0.5em 0 2em}svg text{font-size:11px}</style>\n")
        .append("</head><body>\n<h1>Arrakis serving load test</h1>\n<pre>")
        .append(Svg.esc(ServingReport.text(run)))
        .append("</pre>\n");
    sb.append("<h2>Time to first token: requests per bucket (ms)</h2>\n")
        .append(distribution(CHARTS.get(0), json.path("ttfts_ms")));
    sb.append("<h2>Time per output token: requests per bucket (ms)</h2>\n")
        .append(distribution(CHARTS.get(1), json.path("tpots_ms")));
    JsonNode timeline = json.path("output_tokens_per_second");
    double[] t = new double[timeline.size()];
    double[] tokens = new double[timeline.size()];
    for (int i = 0; i < t.length; i++) {
      t[i] = i + 1;
      tokens[i] = timeline.get(i).asDouble();
    }
    sb.append("<h2>Output tokens per second over the window</h2>\n")
        .append(
            Svg.lineChart(
                CHARTS.get(2), "tokens/s", t, List.of(new Svg.Series("output tokens/s", tokens))));
    sb.append("<h2>Tokens per expert node</h2>\n");
    JsonNode nodes = json.path("node_load");
    sb.append(HtmlReport.nodeLoadChart(CHARTS.get(3), nodes));
    sb.append(
        json.path("imbalance").isNumber()
            ? String.format(
                Locale.ROOT,
                "<p>imbalance (max ÷ mean node load): %.2f</p>\n",
                json.path("imbalance").asDouble())
            : "<p>node load unknown: "
                + Svg.esc(json.path("node_load_error").asText("-"))
                + "</p>\n");
    // </script> cannot occur in the JSON: every '<' is escaped
    sb.append("<script type=\"application/json\" id=\"report-data\">\n")
        .append(json.toPrettyString().replace("<", "\\u003c"))
        .append("\n</script>\n</body></html>\n");
    return sb.toString();
  }

  public static void write(ServingRun run, Path file) throws IOException {
    ReportFiles.write(file, render(run));
  }

  /** Requests per equal-width bucket from 0 to the largest value. */
  private static String distribution(String id, JsonNode values) {
    double max = 0;
    for (JsonNode v : values) {
      max = Math.max(max, v.asDouble());
    }
    double width = max > 0 ? max / BUCKETS : 1;
    double[] counts = new double[BUCKETS];
    for (JsonNode v : values) {
      counts[Math.min(BUCKETS - 1, (int) (v.asDouble() / width))]++;
    }
    List<String> labels = new ArrayList<>();
    for (int b = 0; b < BUCKETS; b++) {
      labels.add(
          String.format(Locale.ROOT, width * (b + 1) < 10 ? "%.1f" : "%.0f", width * (b + 1)));
    }
    return Svg.barChart(id, "requests", labels, counts);
  }
}
