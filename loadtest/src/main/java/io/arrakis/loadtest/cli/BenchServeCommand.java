package io.arrakis.loadtest.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.synthetic.WholeModelGenerator;
import io.arrakis.loadtest.bench.Machine;
import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.CpuPinning;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Member;
import io.arrakis.loadtest.report.ReportFiles;
import io.arrakis.loadtest.serve.BusyShare;
import io.arrakis.loadtest.serve.InProcessGeneration;
import io.arrakis.loadtest.serve.ServingLoad;
import io.arrakis.loadtest.serve.ServingResult;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.Family;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis bench serve}: whole-model generation on a local cluster in one run. The same model
 * generating in one process, then the cluster (a router and --nodes expert processes) under
 * closed-loop Generate load at each --concurrency (output tokens/s, TTFT, TPOT, ITL), their ratio
 * at the highest concurrency, and ping-pong: decode throughput with 2 micro-batches against 1, the
 * router and the expert nodes pinned to different cores.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description =
        "Measure generation: the model in one process, then a local cluster (router + --nodes expert processes) "
            + "under closed-loop Generate load at each --concurrency (output tokens/s; TTFT, TPOT, ITL percentiles), the "
            + "cluster / in-process ratio at the highest concurrency, and ping-pong: decode tokens/s with 2 micro-batches "
            + "against 1, the router pinned to the first core and the expert nodes to the others (taskset).")
final class BenchServeCommand implements Callable<Integer> {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description = "A whole-model checkpoint (default: a generated one, see --arch).")
  Path model;

  @Option(
      names = "--arch",
      defaultValue = "qwen3_moe",
      description = "Family of the generated model (default: ${DEFAULT-VALUE}).")
  String arch;

  @Option(
      names = "--layers",
      defaultValue = "8",
      description = "Generated model: layers (default: ${DEFAULT-VALUE}).")
  int layers;

  @Option(
      names = "--hidden",
      defaultValue = "512",
      description = "Generated model: hidden size (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(
      names = "--experts",
      defaultValue = "16",
      description = "Generated model: experts per layer (default: ${DEFAULT-VALUE}).")
  int experts;

  @Option(
      names = "--top-k",
      defaultValue = "2",
      description = "Generated model: experts per token (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(
      names = "--ffn",
      defaultValue = "1024",
      description = "Generated model: expert FFN width (default: ${DEFAULT-VALUE}).")
  int ffn;

  @Mixin BenchClusterFlags clusterFlags;

  @Option(
      names = "--concurrency",
      split = ",",
      defaultValue = "1,8,32",
      description =
          "Streams at once, one measurement each (default: ${DEFAULT-VALUE}); the last is compared with in-process.")
  List<Integer> concurrency;

  @Option(
      names = "--prompt-tokens",
      defaultValue = "64",
      description = "Prompt length (default: ${DEFAULT-VALUE}).")
  int promptTokens;

  @Option(
      names = "--output-tokens",
      defaultValue = "64",
      description = "Tokens generated per request (default: ${DEFAULT-VALUE}).")
  int outputTokens;

  @Option(
      names = "--decode-output-tokens",
      defaultValue = "128",
      description =
          "Ping-pong: tokens per request, after 16-token prompts (default: ${DEFAULT-VALUE}).")
  int decodeOutputTokens;

  @Option(
      names = "--warmup",
      defaultValue = "20s",
      converter = DurationConverter.class,
      description = "Unmeasured time before each measurement (default: ${DEFAULT-VALUE}).")
  Duration warmup;

  @Option(
      names = "--duration",
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "Measured time of each measurement (default: ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(names = "--no-pingpong", description = "Skip the pinned 1-versus-2 micro-batch runs.")
  boolean noPingPong;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "Cluster state and logs (default: .arrakis/bench-serve).")
  Path stateDir;

  @Option(names = "--json", paramLabel = "FILE", description = "Also write the figures here.")
  Path json;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Home home = Home.fromEnvironment();
    Path dir = model != null ? model : generated(home, err);
    ArchConfig config = ArchConfig.load(dir);
    int maxC = concurrency.stream().mapToInt(Integer::intValue).max().orElseThrow();
    String loadBefore = loadAverage();
    ObjectNode root = JSON.createObjectNode();
    root.put("model", dir.toString())
        .put("family", config.family().modelType())
        .put("nodes", clusterFlags.nodes())
        .put("prompt_tokens", promptTokens)
        .put("output_tokens", outputTokens)
        .put("warmup_s", warmup.toSeconds())
        .put("duration_s", duration.toSeconds())
        .put("load_average_start", loadBefore);

    err.printf(
        Locale.ROOT,
        "in-process: concurrency %d, %.0f s warm-up + %.0f s ...%n",
        maxC,
        warmup.toMillis() / 1e3,
        duration.toMillis() / 1e3);
    InProcessGeneration.Result local =
        InProcessGeneration.run(dir, maxC, promptTokens, outputTokens, 512, warmup, duration, 1);
    System.gc(); // the in-process experts are native memory that only a collection frees
    err.printf(Locale.ROOT, "in-process: %,.1f output tokens/s%n", local.tokensPerS());
    root.putObject("in_process")
        .put("concurrency", maxC)
        .put("output_tokens_per_s", round(local.tokensPerS()))
        .put("batches", local.batches());

    Path state = stateDir != null ? stateDir : home.dotDir().resolve("bench-serve");
    Map<Integer, ServingResult> levels = new LinkedHashMap<>();
    runCluster(
        state,
        dir,
        2,
        false,
        err,
        c -> {
          for (int n : concurrency) {
            err.printf(Locale.ROOT, "cluster: concurrency %d ...%n", n);
            levels.put(n, load(c, n, promptTokens, outputTokens, config.vocabSize()));
          }
          return null;
        });
    ArrayNode levelsJson = root.putArray("cluster");
    levels.forEach((n, r) -> levelsJson.add(json(n, r)));
    double ratio = levels.get(maxC).outputTokensPerS() / local.tokensPerS();
    root.put("cluster_over_in_process", round(ratio));

    out.printf(
        Locale.ROOT,
        "%nmodel       %s (%s), %d layers, hidden %d; router + %d expert processes; prompt %d, output %d tokens%n",
        dir.getFileName(),
        config.family().modelType(),
        config.numLayers(),
        config.hiddenSize(),
        clusterFlags.nodes(),
        promptTokens,
        outputTokens);
    out.printf(
        Locale.ROOT,
        "in-process  concurrency %2d: %,9.1f output tokens/s%n",
        maxC,
        local.tokensPerS());
    for (var e : levels.entrySet()) {
      ServingResult r = e.getValue();
      out.printf(
          Locale.ROOT,
          "cluster     concurrency %2d: %,9.1f output tokens/s  TTFT p50 %.0f p90 %.0f p99 %.0f ms  "
              + "TPOT p50 %.1f p90 %.1f p99 %.1f ms  ITL p50 %.1f p99 %.1f ms  (%d requests, %d failed)%n",
          e.getKey(),
          r.outputTokensPerS(),
          r.ms("ttft", 50),
          r.ms("ttft", 90),
          r.ms("ttft", 99),
          r.ms("tpot", 50),
          r.ms("tpot", 90),
          r.ms("tpot", 99),
          r.ms("itl", 50),
          r.ms("itl", 99),
          r.requests(),
          r.failed());
    }
    out.printf(
        Locale.ROOT,
        "ratio       cluster / in-process at concurrency %d: %.2f (goal >= 0.8)%n",
        maxC,
        ratio);
    out.flush();

    if (!noPingPong) {
      pingPong(state, dir, config, maxC, root, out, err);
    }
    root.put("load_average_end", loadAverage());
    root.set("machine", Machine.describe());
    out.printf(
        "load average %s at the start, %s at the end%n",
        loadBefore, root.get("load_average_end").asText());
    if (json != null) {
      ReportFiles.write(json, JSON.writeValueAsString(root) + "\n");
      err.println("wrote " + json);
    }
    long failed = levels.values().stream().mapToLong(ServingResult::failed).sum() + pingPongFailed;
    if (failed > 0) {
      throw new IllegalStateException(failed + " Generate calls failed");
    }
    return 0;
  }

  private void pingPong(
      Path state,
      Path dir,
      ArchConfig config,
      int c,
      ObjectNode root,
      PrintWriter out,
      PrintWriter err)
      throws Exception {
    int cpus = Runtime.getRuntime().availableProcessors();
    if (!CpuPinning.available()) {
      out.printf(
          "ping-pong   skipped: needs 2 CPUs and taskset (%s)%n", CpuPinning.unavailableBecause());
      return;
    }
    ObjectNode pp = root.putObject("ping_pong");
    pp.put("concurrency", c)
        .put("prompt_tokens", 16)
        .put("output_tokens", decodeOutputTokens)
        .put("router_cpu", "0")
        .put("expert_cpus", "1-" + (cpus - 1));
    double[] tokens = new double[3];
    for (int mb = 1; mb <= 2; mb++) {
      int microBatches = mb;
      err.printf(
          Locale.ROOT,
          "ping-pong: %d micro-batch%s, router on CPU 0, expert nodes on CPUs 1-%d ...%n",
          mb,
          mb == 1 ? "" : "es",
          cpus - 1);
      ServingResult[] r = new ServingResult[1];
      BusyShare[] busy = new BusyShare[1];
      runCluster(
          state,
          dir,
          mb,
          true,
          err,
          cluster -> {
            CpuPinning.pin(cluster.routerPid(), "0");
            for (Member m : cluster.state().experts()) {
              CpuPinning.pin(m.process().pid(), "1-" + (cpus - 1));
            }
            int port = metricsPort;
            BusyShare[] start = new BusyShare[1];
            r[0] =
                load(
                    cluster,
                    c,
                    16,
                    decodeOutputTokens,
                    config.vocabSize(),
                    new Window() {
                      @Override
                      public void opened() throws IOException, InterruptedException {
                        start[0] = BusyShare.read(LocalCluster.HOST, port);
                      }

                      @Override
                      public void closed() throws IOException, InterruptedException {
                        busy[0] = BusyShare.read(LocalCluster.HOST, port).since(start[0]);
                      }
                    });
            return null;
          });
      tokens[mb] = r[0].outputTokensPerS();
      pingPongFailed += r[0].failed();
      pp.putObject(mb + "_micro_batch" + (mb == 1 ? "" : "es"))
          .put("output_tokens_per_s", round(tokens[mb]))
          .put("overlap", round(busy[0].overlap()))
          .put("router_busy", round(busy[0].routerBusy()))
          .put("experts_busy", round(busy[0].expertsBusy()))
          .put("tpot_p50_ms", round(r[0].ms("tpot", 50)))
          .put("window_itl_p50_ms", round(r[0].ms("window_itl", 50)))
          .put("failed", r[0].failed());
      out.printf(
          Locale.ROOT,
          "ping-pong   %d micro-batch%s: %,9.1f decode tokens/s  router busy %.0f%%, expert nodes busy "
              + "%.0f%%, both at once %.0f%% of the busy time  (token gap p50 %.1f ms, %d failed)%n",
          microBatches,
          microBatches == 1 ? "  " : "es",
          tokens[mb],
          100 * busy[0].routerBusy(),
          100 * busy[0].expertsBusy(),
          100 * busy[0].overlap(),
          r[0].ms("window_itl", 50),
          r[0].failed());
    }
    pp.put("ratio", round(tokens[2] / tokens[1]));
    out.printf(
        Locale.ROOT,
        "ping-pong   2 / 1 micro-batches: %.2f (goal >= 1.3); router on CPU 0, expert nodes on CPUs 1-%d, "
            + "concurrency %d, 16-token prompts, %d output tokens%n",
        tokens[2] / tokens[1],
        cpus - 1,
        c,
        decodeOutputTokens);
    out.flush();
  }

  private int metricsPort;
  private long pingPongFailed;

  private interface ClusterBody {
    Void run(LocalCluster cluster) throws Exception;
  }

  /** Starts a cluster with {@code microBatches}, runs {@code body}, stops it. */
  private void runCluster(
      Path state, Path dir, int microBatches, boolean metrics, PrintWriter err, ClusterBody body)
      throws IOException, InterruptedException {
    metricsPort =
        clusterFlags.process.metricsPort != 0
            ? clusterFlags.process.metricsPort
            : metrics ? freePort() : 0;
    ClusterOptions o = clusterFlags.options(dir, state).withMetricsPortBase(metricsPort);
    ScratchCluster.run(
        state,
        "arrakis bench serve",
        err,
        () -> {
          err.printf(
              "starting %d expert nodes and a router (%d micro-batches) ...%n",
              clusterFlags.nodes(), microBatches);
          LocalCluster c =
              LocalCluster.start(
                  o, Map.of("ARRAKIS_MICRO_BATCHES", Integer.toString(microBatches)));
          try {
            body.run(c);
          } catch (IOException | InterruptedException | RuntimeException e) {
            throw e;
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
          return 0;
        });
  }

  private ServingResult load(LocalCluster c, int n, int prompt, int output, int vocab)
      throws IOException, InterruptedException {
    return load(c, n, prompt, output, vocab, new Window() {});
  }

  /** Hears when the measured window opens and closes (after the warm-up; its length later). */
  private interface Window {
    default void opened() throws IOException, InterruptedException {}

    default void closed() throws IOException, InterruptedException {}
  }

  /** Closed-loop load; {@code window} hears the measured window's edges, on a thread of its own. */
  private ServingResult load(
      LocalCluster c, int n, int prompt, int output, int vocab, Window window)
      throws IOException, InterruptedException {
    ManagedChannel channel = c.security().routerClient().channelBuilder(c.routerAddress()).build();
    try {
      ServingLoad load =
          new ServingLoad(
              InferenceGrpc.newStub(channel),
              new ServingLoad.Options(
                  n, prompt, output, warmup, duration, Math.min(vocab, 512), 42));
      Throwable[] failure = new Throwable[1];
      Thread marker =
          new Thread(
              () -> {
                try {
                  Thread.sleep(warmup.toMillis());
                  window.opened();
                  Thread.sleep(duration.toMillis());
                  window.closed();
                } catch (IOException | InterruptedException | RuntimeException e) {
                  failure[0] = e;
                }
              },
              "bench-serve-window");
      marker.start();
      ServingResult r = load.run(x -> {});
      marker.join();
      if (failure[0] != null) {
        throw new IllegalStateException(
            "reading the router's metrics failed: " + failure[0], failure[0]);
      }
      return r;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private Path generated(Home home, PrintWriter err) throws IOException {
    Family family = Family.of(arch);
    String key =
        String.format(
            Locale.ROOT, "serve-%s-l%d-h%d-e%d-k%d-f%d", arch, layers, hidden, experts, topK, ffn);
    Path dir = home.benchModels().resolve(key);
    if (Files.isRegularFile(dir.resolve("model.safetensors"))) {
      return dir;
    }
    err.printf("generating the benchmark model in %s (once) ...%n", dir);
    Path tmp = dir.resolveSibling(key + ".tmp");
    if (Files.exists(tmp)) {
      try (var files = Files.walk(tmp)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    WholeModelGenerator.generate(tmp, shape(family, layers, hidden, experts, topK, ffn));
    Files.move(tmp, dir);
    return dir;
  }

  /**
   * The benchmark's generated model: 8 query and 2 key/value heads, a vocabulary of 4,096, bf16
   * weights; dense layers (DeepSeek's first) 4x the expert width, DeepSeek's shared expert as wide
   * as one routed expert.
   */
  static WholeModelGenerator.Shape shape(
      Family family, int layers, int hidden, int experts, int topK, int ffn) {
    return WholeModelGenerator.Shape.of(family)
        .layers(layers)
        .hidden(hidden)
        .attention(8, 2, 0)
        .experts(experts, topK, ffn)
        .ffn(4 * ffn, family == Family.DEEPSEEK_V3 ? ffn : 0)
        .vocab(4096)
        .bf16(true);
  }

  private static ObjectNode json(int concurrency, ServingResult r) {
    ObjectNode o = JSON.createObjectNode();
    o.put("concurrency", concurrency)
        .put("output_tokens_per_s", round(r.outputTokensPerS()))
        .put("requests_per_s", round(r.requestsPerS()))
        .put("requests", r.requests())
        .put("failed", r.failed());
    for (String m : List.of("ttft", "tpot", "itl", "e2e")) {
      ObjectNode ms = o.putObject(m + "_ms");
      ms.put("mean", round(r.meanMs(m)));
      for (double p : new double[] {50, 90, 99}) {
        ms.put("p" + (int) p, round(r.ms(m, p)));
      }
    }
    return o;
  }

  private static double round(double v) {
    return Double.isFinite(v) ? Math.round(v * 1000) / 1000.0 : v;
  }

  private static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+", -1);
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "unknown";
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
