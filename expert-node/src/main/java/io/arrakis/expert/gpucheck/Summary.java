package io.arrakis.expert.gpucheck;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** The GPU check's results as Markdown tables (the README's GPU section is made from this). */
final class Summary {
  private Summary() {}

  static void print(JsonNode root, PrintStream out) {
    JsonNode c = root.path("correctness").path("result");
    if (!c.isMissingNode()) {
      double worst = 0;
      for (JsonNode r : c.path("results")) {
        worst = Math.max(worst, r.path("max_rel_err").asDouble());
      }
      out.printf(
          Locale.ROOT,
          "correctness on %s: %d cases, %d failed, largest max|err|/max|expected| %.2e (bound %s)%n%n",
          c.path("device").asText("?"),
          c.path("cases").asInt(),
          c.path("failed").asInt(),
          worst,
          c.path("tolerance").asText());
    }
    JsonNode k = root.path("kernel").path("result");
    if (k.isMissingNode()) {
      k = root.path("kernel_partial");
    }
    if (!k.isMissingNode()) {
      out.println(
          "kernel: "
              + k.path("device").asText("?")
              + "; tokens/s of one layer's routed experts, device time");
      out.println();
      out.println(
          "| shape | T | auto | cublas | cublas, 4 lanes | grouped | split | PyTorch best | auto / PyTorch | weights read GB/s | wall (ms) |");
      out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      Map<String, Map<Integer, Map<String, JsonNode>>> byShape = new LinkedHashMap<>();
      for (JsonNode p : k.path("points")) {
        if (p.has("path")) {
          byShape
              .computeIfAbsent(p.path("shape").asText(), s -> new TreeMap<>())
              .computeIfAbsent(p.path("T").asInt(), t -> new LinkedHashMap<>())
              .put(p.path("path").asText(), p);
        }
      }
      byShape.forEach(
          (shape, ts) ->
              ts.forEach(
                  (t, paths) -> {
                    JsonNode auto = paths.get("auto");
                    out.printf(
                        Locale.ROOT,
                        "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                        shape,
                        t,
                        tps(auto),
                        tps(paths.get("cublas")),
                        tps(paths.get("cublas-4-lanes")),
                        tps(paths.get("grouped")),
                        tps(paths.get("split")),
                        auto == null || !auto.has("torch_best_tokens_per_s")
                            ? ""
                            : String.format(
                                Locale.ROOT,
                                "%,.0f",
                                auto.path("torch_best_tokens_per_s").asDouble()),
                        auto == null || !auto.has("ratio_vs_torch")
                            ? ""
                            : String.format(
                                Locale.ROOT, "%.2f", auto.path("ratio_vs_torch").asDouble()),
                        auto == null
                            ? ""
                            : String.format(
                                Locale.ROOT, "%.0f", auto.path("weight_read_GBps").asDouble()),
                        auto == null
                            ? ""
                            : String.format(Locale.ROOT, "%.3f", auto.path("wall_ms").asDouble()));
                  }));
      out.println();
    }
    JsonNode g = root.path("grpc").path("result");
    if (!g.isMissingNode()) {
      out.printf(
          Locale.ROOT,
          "grpc: %s; %,.0f tokens/s over loopback gRPC (T=%d, %d in flight, %d compute threads), "
              + "kernel alone %,.0f (ratio %.2f)%s%n%n",
          g.path("node_device").asText("?"),
          g.path("tokens_per_s").asDouble(),
          g.path("tokens").asInt(),
          g.path("in_flight").asInt(),
          g.path("compute_threads").asInt(),
          g.path("kernel_alone_tokens_per_s").asDouble(),
          g.path("ratio_vs_kernel_alone").asDouble(),
          g.has("error") ? "; error: " + g.path("error").asText() : "");
    }
    JsonNode p = root.path("probe").path("result");
    if (!p.isMissingNode()) {
      out.println(
          "probe: exit "
              + p.path("exit").asInt()
              + ": "
              + p.path("output").asText().replace('\n', ' '));
    }
  }

  private static String tps(JsonNode p) {
    if (p == null) {
      return "";
    }
    return String.format(Locale.ROOT, "%,.0f", p.path("tokens_per_s").asDouble());
  }
}
