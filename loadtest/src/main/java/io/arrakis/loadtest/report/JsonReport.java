package io.arrakis.loadtest.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.TimelinePoint;
import io.arrakis.model.placement.ExpertId;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * A load run as JSON: {@code {"sent", "ok", "failed", "unanswered", "by_status": {},
 * "tokens_per_s", "requests_per_s", "latency_ms": {"p50", "p90", "p99", "p999", "max"},
 * "node_load": {id: tokens}, "imbalance"}}, plus what the run was ({@code mode, target,
 * concurrency} (closed loop) or {@code rate_per_s} (open loop), {@code tokens, layers,
 * duration_s}), {@code expert_load} ({@code {layer: [tokens per expert]}}) and {@code timeline}.
 * Unknown figures are null.
 */
public final class JsonReport {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private JsonReport() {}

  public static ObjectNode toJson(LoadResult r) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("mode", r.mode());
    root.put("target", r.target());
    if (r.mode().equals("open")) {
      root.put("rate_per_s", r.ratePerSecond());
    } else {
      root.put("concurrency", r.concurrency());
    }
    root.put("tokens", r.tokens().toString());
    ArrayNode layers = root.putArray("layers");
    r.layers().forEach(layers::add);
    root.put("duration_s", round(r.elapsedSeconds(), 3));
    root.put("sent", r.sent());
    root.put("ok", r.ok());
    root.put("failed", r.failed());
    root.put("unanswered", r.unanswered());
    ObjectNode byStatus = root.putObject("by_status");
    r.byStatus().forEach(byStatus::put);
    root.put("tokens_per_s", round(r.tokensPerSecond(), 1));
    root.put("requests_per_s", round(r.requestsPerSecond(), 2));
    ObjectNode latency = root.putObject("latency_ms");
    number(latency, "p50", r.latencyMillis(50));
    number(latency, "p90", r.latencyMillis(90));
    number(latency, "p99", r.latencyMillis(99));
    number(latency, "p999", r.latencyMillis(99.9));
    number(latency, "max", r.maxLatencyMillis());
    ClusterLoad load = r.load();
    if (load == null) {
      root.putNull("node_load");
      root.putNull("imbalance");
      root.putNull("expert_load");
      root.put("load_error", r.loadError());
    } else {
      ObjectNode nodes = root.putObject("node_load");
      load.nodeTokens().forEach(nodes::put);
      number(root, "imbalance", load.imbalance());
      expertLoad(root.putObject("expert_load"), load.expertTokens());
    }
    root.put("skewed_inputs", r.skewedInputs());
    ArrayNode timeline = root.putArray("timeline");
    for (TimelinePoint p : r.timeline()) {
      ObjectNode o = timeline.addObject();
      o.put("t_s", round(p.seconds(), 3));
      o.put("interval_s", round(p.intervalSeconds(), 3));
      o.put("ok", p.ok());
      o.put("failed", p.failed());
      o.put("tokens", p.tokens());
      number(o, "p50_ms", p.p50Millis());
      number(o, "p99_ms", p.p99Millis());
    }
    return root;
  }

  /** {layer: [tokens of expert 0, 1, …]}, experts the router never saw counted as 0. */
  private static void expertLoad(ObjectNode out, Map<ExpertId, Long> experts) {
    Map<Integer, long[]> byLayer = new TreeMap<>();
    int width = experts.keySet().stream().mapToInt(ExpertId::expert).max().orElse(-1) + 1;
    experts.forEach(
        (e, v) -> byLayer.computeIfAbsent(e.layer(), k -> new long[width])[e.expert()] = v);
    byLayer.forEach(
        (layer, counts) -> {
          ArrayNode a = out.putArray(Integer.toString(layer));
          for (long c : counts) {
            a.add(c);
          }
        });
  }

  public static String write(LoadResult r) {
    try {
      return MAPPER.writeValueAsString(toJson(r)) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static void write(LoadResult r, Path file) throws IOException {
    ReportFiles.write(file, write(r));
  }

  private static void number(ObjectNode o, String field, double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) {
      o.putNull(field);
    } else {
      o.put(field, round(v, 3));
    }
  }

  static double round(double v, int digits) {
    double scale = Math.pow(10, digits);
    return Math.round(v * scale) / scale;
  }
}
