package io.arrakis.loadtest.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.bench.BlockShape;
import io.arrakis.loadtest.bench.KernelBench;
import io.arrakis.loadtest.bench.Machine;
import io.arrakis.loadtest.report.ReportFiles;
import io.arrakis.model.kernel.Blas;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code arrakis bench kernel}: the in-process MoE block, timed per token count. */
@Command(
    name = "kernel",
    mixinStandardHelpOptions = true,
    description =
        "Time one in-process MoE block (gate, top-k, SwiGLU experts, combine; float32) on random weights: "
            + "warm-up, then the median of --repeats runs per token count.")
final class KernelCommand implements Callable<Integer> {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Mixin BlockShape shape;

  @Option(
      names = "--tokens",
      paramLabel = "T,...",
      split = ",",
      defaultValue = "1,64,1024",
      description = "Token counts to time (default: ${DEFAULT-VALUE}).")
  List<Integer> tokens;

  @Option(
      names = "--threads",
      paramLabel = "N",
      defaultValue = "1",
      description = "BLAS threads (default: ${DEFAULT-VALUE}).")
  int threads;

  @Option(
      names = "--repeats",
      paramLabel = "R",
      defaultValue = "10",
      description = "Timed runs per token count (default: ${DEFAULT-VALUE}).")
  int repeats;

  @Option(
      names = "--seed",
      paramLabel = "SEED",
      defaultValue = "1",
      description = "Seed of the random weights (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--json",
      paramLabel = "FILE",
      description = "Also write {\"results\": [...], \"machine\": {...}} here.")
  Path json;

  @Override
  public Integer call() throws Exception {
    if (tokens.stream().anyMatch(t -> t < 1)) {
      throw new IllegalArgumentException("--tokens must be positive counts, got " + tokens);
    }
    KernelBench.Options o =
        new KernelBench.Options(
            shape.hidden, shape.ffn, shape.experts, shape.topK, tokens, threads, repeats, seed);
    List<KernelBench.Result> results = KernelBench.run(o);
    PrintWriter out = spec.commandLine().getOut();
    out.printf(
        Locale.ROOT,
        "MoE block hidden %d, ffn %d, %d experts, top-%d, float32, %d thread(s), median of %d%n",
        shape.hidden,
        shape.ffn,
        shape.experts,
        shape.topK,
        threads,
        repeats);
    out.printf(
        Locale.ROOT,
        "%8s %12s %14s %10s %12s%n",
        "tokens",
        "median ms",
        "tokens/s",
        "GFLOP/s",
        "cpu ms");
    for (KernelBench.Result r : results) {
      out.printf(
          Locale.ROOT,
          "%8d %12.3f %14.1f %10.2f %12.3f%n",
          r.tokens(),
          r.medianMillis(),
          r.tokensPerS(),
          r.gflops(),
          r.cpuMedianMillis());
    }
    if (json != null) {
      ReportFiles.write(json, JSON.writeValueAsString(toJson(o, results)) + "\n");
      out.println("wrote " + json);
    }
    out.flush();
    return 0;
  }

  static ObjectNode toJson(KernelBench.Options o, List<KernelBench.Result> results) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode config = root.putObject("config");
    config
        .put("hidden", o.hidden())
        .put("ffn", o.ffn())
        .put("experts", o.experts())
        .put("top_k", o.topK())
        .put("threads", o.threads())
        .put("repeats", o.repeats())
        .put("dtype", "float32");
    ArrayNode rs = root.putArray("results");
    for (KernelBench.Result r : results) {
      rs.addObject()
          .put("tokens", r.tokens())
          .put("median_ms", r.medianMillis())
          .put("tokens_per_s", r.tokensPerS())
          .put("gflops", r.gflops())
          .put("cpu_median_ms", r.cpuMedianMillis());
    }
    root.set("machine", Machine.describe());
    root.put("blas", Blas.describe());
    return root;
  }
}
