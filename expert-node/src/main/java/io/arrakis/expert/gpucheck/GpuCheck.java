package io.arrakis.expert.gpucheck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.cli.CliErrors;
import io.arrakis.model.kernel.backend.CpuBackend;
import io.arrakis.model.kernel.backend.ExpertBackend;
import io.arrakis.model.kernel.cuda.CudaBackend;
import io.arrakis.model.kernel.cuda.CudaOptions;
import io.arrakis.model.kernel.cuda.GroupedGemmProbe;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code gpu-check}: one section of the GPU check per run (bench/gpu-check runs each in a JVM of
 * its own, so a fault in one loses none of the others), merged into one JSON file as it goes.
 */
@Command(
    name = "gpu-check",
    mixinStandardHelpOptions = true,
    description =
        "Check and measure the CUDA backend: correctness against the fixtures and reference models, "
            + "one MoE layer's throughput at real shapes, and an expert node over gRPC.")
public final class GpuCheck implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(
      names = "--section",
      required = true,
      description = "correctness, kernel, grpc, probe or summary")
  String section;

  @Option(
      names = "--out",
      required = true,
      description = "JSON file to merge this section's results into")
  Path out;

  @Option(
      names = "--device",
      defaultValue = "cuda",
      description = "cuda or cpu (correctness only; default ${DEFAULT-VALUE})")
  String device;

  @Option(names = "--fixtures", description = "Layer fixtures directory (../shared/fixtures)")
  Path fixtures;

  @Option(names = "--models", description = "Reference models directory (../shared/models)")
  Path models;

  @Option(
      names = "--torch",
      description = "PyTorch's figures for the same shapes (torch_moe_h200.json)")
  Path torch;

  @Option(
      names = "--tokens",
      split = ",",
      description = "Kernel section: batch sizes (default 1,16,64,256,1024,4096,16384)")
  int[] tokens;

  @Option(
      names = "--shapes",
      split = ",",
      description = "Kernel section: shape names (default all three)")
  List<String> shapes;

  @Option(
      names = "--reps",
      defaultValue = "15",
      description = "Kernel section: most timed repetitions per point")
  int reps;

  @Option(
      names = "--grpc-tokens",
      defaultValue = "1024",
      description = "gRPC section: rows per call")
  int grpcTokens;

  @Option(
      names = "--grpc-seconds",
      defaultValue = "10",
      description = "gRPC section: measured seconds")
  double grpcSeconds;

  @Option(
      names = "--work",
      defaultValue = "/tmp/arrakis-gpu-check",
      description = "Scratch directory (the gRPC model)")
  Path work;

  public static void main(String[] args) {
    PrintWriter err = new PrintWriter(System.err, true, Charset.defaultCharset());
    CommandLine cli = new CommandLine(new GpuCheck());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          e.printStackTrace(err);
          err.println("error: " + CliErrors.oneLine(e));
          return 1;
        });
    System.exit(cli.execute(args));
  }

  @Override
  public Integer call() throws Exception {
    long started = System.nanoTime();
    JsonNode result =
        switch (section) {
          case "correctness" -> correctness();
          case "kernel" -> kernel();
          case "grpc" -> grpc();
          case "probe" -> probe();
          case "summary" -> {
            Summary.print(read(), System.out);
            yield null;
          }
          default ->
              throw new IllegalArgumentException(
                  "--section must be correctness, kernel, grpc, probe or summary, got " + section);
        };
    if (result == null) {
      return 0;
    }
    ObjectNode wrapped = JSON.createObjectNode();
    wrapped.put("seconds", (System.nanoTime() - started) / 1e9);
    wrapped.set("result", result);
    merge(section, wrapped);
    if (result.has("failed") && result.get("failed").asInt() > 0) {
      System.out.println(section + ": " + result.get("failed").asInt() + " case(s) FAILED");
      return 3;
    }
    return 0;
  }

  private JsonNode correctness() throws Exception {
    try (ExpertBackend backend =
        device.equals("cpu")
            ? CpuBackend.start(1)
            : CudaBackend.open(
                CudaOptions.defaults(
                    device.startsWith("cuda:") ? Integer.parseInt(device.substring(5)) : 0))) {
      System.out.println("correctness on " + backend.device());
      ObjectNode r = new CorrectnessCheck(backend).run(fixtures, models);
      r.put("device", backend.device());
      return r;
    }
  }

  private JsonNode kernel() throws Exception {
    JsonNode torchFigures =
        torch != null && Files.exists(torch) ? JSON.readTree(torch.toFile()) : null;
    List<LayerThroughput.Shape> chosen =
        LayerThroughput.SHAPES.stream()
            .filter(s -> shapes == null || shapes.contains(s.name()))
            .toList();
    int[] ts = tokens != null ? tokens : LayerThroughput.TOKENS;
    try (CudaBackend backend = CudaBackend.open(CudaOptions.defaults(0))) {
      System.out.println("kernel throughput on " + backend.device());
      ObjectNode r = JSON.createObjectNode();
      r.put("device", backend.device());
      r.put("grouped_max_rows", backend.options().groupedMaxRows());
      r.put("grouped_max_expert_bytes", backend.options().groupedMaxExpertBytes());
      r.put("host_staging", backend.staging());
      r.put(
          "timing",
          "device_ms: CUDA events from rows on the device to partial sums on the device (median); "
              + "wall_ms: the whole compute call, host planning and both copies included (median)");
      ArrayNode rows =
          new LayerThroughput(
                  backend,
                  torchFigures,
                  partial -> {
                    r.set("points", partial);
                    try {
                      merge(section + "_partial", r);
                    } catch (IOException e) {
                      System.out.println("could not write partial results: " + e);
                    }
                  })
              .run(chosen, ts, reps, 1.5);
      r.set("points", rows);
      return r;
    }
  }

  private JsonNode grpc() throws Exception {
    Files.createDirectories(work);
    System.out.println("expert node over gRPC, Mixtral-8x7B layer shape");
    GrpcThroughput bench = new GrpcThroughput(work, 4096, 14336, 8, 2);
    ObjectNode r = bench.run(grpcTokens, 8, 8, 4, 3, grpcSeconds, List.of("-XX:+UseParallelGC"));
    ObjectNode g1 =
        bench.run(
            grpcTokens,
            8,
            8,
            4,
            3,
            grpcSeconds,
            List.of("-XX:+UseG1GC", "-XX:G1HeapRegionSize=32m"));
    r.set("with_g1_32m_regions", g1);
    JsonNode existing = read();
    for (JsonNode p : existing.path("kernel").path("result").path("points")) {
      if (p.path("shape").asText().equals("mixtral-8x7b-layer")
          && p.path("T").asInt() == grpcTokens
          && p.path("path").asText().equals("auto")
          && r.has("tokens_per_s")) {
        r.put("kernel_alone_tokens_per_s", p.path("tokens_per_s").asDouble());
        r.put("kernel_alone_wall_tokens_per_s", p.path("wall_tokens_per_s").asDouble());
        r.put(
            "ratio_vs_kernel_alone",
            r.get("tokens_per_s").asDouble() / p.path("tokens_per_s").asDouble());
        g1.put(
            "ratio_vs_kernel_alone",
            g1.path("tokens_per_s").asDouble() / p.path("tokens_per_s").asDouble());
        System.out.printf(
            Locale.ROOT,
            "  ratio to the kernel alone (device time): %.2f%n",
            r.get("ratio_vs_kernel_alone").asDouble());
      }
    }
    return r;
  }

  /** cublasGemmGroupedBatchedEx in a JVM of its own (a fault there poisons the CUDA context). */
  private JsonNode probe() throws Exception {
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd =
        new ArrayList<>(List.of(javaBin, "-cp", System.getProperty("java.class.path")));
    String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
    if (cache != null) {
      cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
    }
    cmd.add(GroupedGemmProbe.class.getName());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    boolean done = p.waitFor(60, TimeUnit.SECONDS);
    ObjectNode r = JSON.createObjectNode();
    r.put(
        "api",
        "cublasGemmGroupedBatchedEx: bf16 A/B, float32 C, COMPUTE_32F, device pointer arrays, host sizes and alpha/beta");
    r.put("exit", done ? p.exitValue() : -1);
    String[] lines = output.strip().split("\\R");
    r.put(
        "output",
        String.join("\n", Arrays.copyOfRange(lines, Math.max(0, lines.length - 20), lines.length)));
    System.out.println(output.strip());
    return r;
  }

  private JsonNode read() throws IOException {
    return Files.exists(out) ? JSON.readTree(out.toFile()) : JSON.createObjectNode();
  }

  /**
   * Rewrites the output file with this section's result added (atomically: a kill leaves the last
   * good file).
   */
  private synchronized void merge(String key, JsonNode value) throws IOException {
    JsonNode existing = read();
    ObjectNode root = existing.isObject() ? (ObjectNode) existing : JSON.createObjectNode();
    root.set(key, value);
    if (!key.endsWith("_partial")) {
      root.remove(key + "_partial");
    }
    root.put("updated", Instant.now().toString());
    Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
    Files.createDirectories(out.toAbsolutePath().getParent());
    JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), root);
    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
