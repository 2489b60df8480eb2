package io.arrakis.loadtest.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.serve.ServingLoad;
import io.arrakis.loadtest.serve.ServingResult;
import io.arrakis.loadtest.serve.ServingRun;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A serving load test's report in the shape and with the definitions of {@code vllm bench serve}:
 * the text table, and JSON with vLLM's field names ({@code completed}, {@code request_throughput},
 * {@code mean_ttft_ms} …) so that tools reading vLLM's results read these; plus failures by status
 * and tokens per expert node with their imbalance (max ÷ mean).
 */
public final class ServingReport {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** The latency measures: JSON key part, title, what the text calls it. */
  private static final List<String[]> MEASURES =
      List.of(
          new String[] {"ttft", "Time to First Token", "TTFT"},
          new String[] {"tpot", "Time per Output Token (excl. 1st token)", "TPOT"},
          new String[] {"itl", "Inter-token Latency", "ITL"},
          new String[] {"e2el", "End-to-end Latency", "E2EL"});

  private ServingReport() {}

  public static String text(ServingRun run) {
    ServingResult r = run.result();
    ServingLoad.Options o = run.options();
    StringBuilder sb = new StringBuilder();
    sb.append(center(" Serving Benchmark Result ", '=')).append('\n');
    row(sb, "Backend", run.backend() + " " + run.target());
    row(
        sb,
        "Input / output length",
        String.format(
            Locale.ROOT,
            "%d / %d tokens (range ratio %.2f)",
            o.promptTokens(),
            o.outputTokens(),
            o.rangeRatio()));
    if (o.prefixTokens() > 0) {
      row(sb, "Shared prefix (tokens)", Integer.toString(o.prefixTokens()));
    }
    if (o.requestRate() > 0) {
      row(sb, "Request rate (req/s, Poisson)", fmt(o.requestRate()));
    }
    row(
        sb,
        "Maximum request concurrency",
        o.concurrency() > 0 ? Integer.toString(o.concurrency()) : "none");
    if (o.byCount()) {
      row(sb, "Number of prompts", Integer.toString(o.numPrompts()));
    }
    row(sb, "Successful requests", Long.toString(r.requests()));
    row(sb, "Failed requests", Long.toString(r.failed()));
    row(sb, "Benchmark duration (s)", fmt(r.benchmarkSeconds()));
    row(sb, "Total input tokens", Long.toString(r.promptTokens()));
    row(sb, "Total generated tokens", Long.toString(r.outputTokens()));
    row(sb, "Request throughput (req/s)", fmt(r.benchRequestsPerS()));
    row(sb, "Output token throughput (tok/s)", fmt(r.benchOutputTokensPerS()));
    row(sb, "Total Token throughput (tok/s)", fmt(r.benchTotalTokensPerS()));
    for (String[] m : MEASURES) {
      String key = key(m[0]);
      sb.append(center(m[1], '-')).append('\n');
      row(sb, "Mean " + m[2] + " (ms)", fmt(r.meanMs(key)));
      row(sb, "Median " + m[2] + " (ms)", fmt(r.ms(key, 50)));
      row(sb, "P90 " + m[2] + " (ms)", fmt(r.ms(key, 90)));
      row(sb, "P99 " + m[2] + " (ms)", fmt(r.ms(key, 99)));
    }
    if (!r.failures().isEmpty()) {
      sb.append(center("Failures by status", '-')).append('\n');
      r.failures().forEach((status, n) -> row(sb, status, Long.toString(n)));
    }
    sb.append(center("Expert load per node", '-')).append('\n');
    ClusterLoad load = run.nodeLoad();
    if (load == null) {
      sb.append("unknown: ").append(run.nodeLoadError()).append('\n');
    } else {
      long total = Math.max(1, load.totalTokens());
      load.nodeTokens()
          .forEach(
              (node, tokens) ->
                  row(
                      sb,
                      node + " (tokens)",
                      String.format(Locale.ROOT, "%,d (%.1f%%)", tokens, 100.0 * tokens / total)));
      row(sb, "Imbalance (max / mean)", fmt(load.imbalance()));
    }
    sb.append("=".repeat(50)).append('\n');
    return sb.toString();
  }

  public static ObjectNode toJson(ServingRun run) {
    ServingResult r = run.result();
    ServingLoad.Options o = run.options();
    ObjectNode root = JSON.createObjectNode();
    root.put("backend", run.backend())
        .put("target", run.target())
        .put("input_len", o.promptTokens())
        .put("output_len", o.outputTokens())
        .put("range_ratio", o.rangeRatio())
        .put("prefix_len", o.prefixTokens())
        .put("seed", o.seed())
        .put("warmup_s", o.warmup().toMillis() / 1e3);
    if (o.requestRate() > 0) {
      root.put("request_rate", o.requestRate());
    } else {
      root.putNull("request_rate");
    }
    if (o.concurrency() > 0) {
      root.put("max_concurrency", o.concurrency());
    } else {
      root.putNull("max_concurrency");
    }
    if (o.byCount()) {
      root.put("num_prompts", o.numPrompts());
    } else {
      root.putNull("num_prompts");
    }
    root.put("completed", r.requests())
        .put("failed", r.failed())
        .put("duration", round(r.benchmarkSeconds()))
        .put("total_input_tokens", r.promptTokens())
        .put("total_output_tokens", r.outputTokens())
        .put("request_throughput", round(r.benchRequestsPerS()))
        .put("output_throughput", round(r.benchOutputTokensPerS()))
        .put("total_token_throughput", round(r.benchTotalTokensPerS()));
    for (String[] m : MEASURES) {
      String key = key(m[0]);
      number(root, "mean_" + m[0] + "_ms", r.meanMs(key));
      number(root, "median_" + m[0] + "_ms", r.ms(key, 50));
      number(root, "std_" + m[0] + "_ms", r.stdMs(key));
      number(root, "p90_" + m[0] + "_ms", r.ms(key, 90));
      number(root, "p99_" + m[0] + "_ms", r.ms(key, 99));
    }
    ObjectNode failures = root.putObject("failures");
    r.failures().forEach(failures::put);
    var timeline = root.putArray("output_tokens_per_second");
    for (long n : r.timeline()) {
      timeline.add(n);
    }
    var ttfts = root.putArray("ttfts_ms");
    r.ttftValuesMs().forEach(v -> ttfts.add(round(v)));
    var tpots = root.putArray("tpots_ms");
    r.tpotValuesMs().forEach(v -> tpots.add(round(v)));
    ClusterLoad load = run.nodeLoad();
    ObjectNode nodes = root.putObject("node_load");
    if (load != null) {
      for (Map.Entry<String, Long> e : load.nodeTokens().entrySet()) {
        nodes.put(e.getKey(), e.getValue());
      }
      number(root, "imbalance", load.imbalance());
      root.putNull("node_load_error");
    } else {
      root.putNull("imbalance");
      root.put("node_load_error", run.nodeLoadError());
    }
    return root;
  }

  public static void writeJson(ServingRun run, Path file) throws IOException {
    ReportFiles.write(file, JSON.writeValueAsString(toJson(run)) + "\n");
  }

  private static String key(String measure) {
    return measure.equals("e2el") ? "e2e" : measure;
  }

  private static void number(ObjectNode o, String field, double v) {
    if (Double.isFinite(v)) {
      o.put(field, round(v));
    } else {
      o.putNull(field);
    }
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  private static void row(StringBuilder sb, String label, String value) {
    sb.append(String.format(Locale.ROOT, "%-40s %s%n", label + ":", value));
  }

  private static String fmt(double v) {
    return Double.isFinite(v) ? String.format(Locale.ROOT, "%.2f", v) : "-";
  }

  private static String center(String title, char fill) {
    int left = Math.max(0, (50 - title.length()) / 2);
    int right = Math.max(0, 50 - title.length() - left);
    return String.valueOf(fill).repeat(left) + title + String.valueOf(fill).repeat(right);
  }
}
