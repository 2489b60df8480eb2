package io.arrakis.loadtest.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.bench.BlockShape;
import io.arrakis.loadtest.bench.BlockThroughput;
import io.arrakis.loadtest.bench.Machine;
import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Member;
import io.arrakis.loadtest.cluster.MemoryWatch;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LatencyProbe;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.OpenLoopDriver;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.loadtest.report.ReportFiles;
import io.arrakis.loadtest.report.TextReport;
import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.synthetic.GeneratorOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis bench cluster}: in one run, the in-process MoE block's tokens/s and a local
 * cluster's (router + N expert processes on loopback) for the same batches, and their ratio. Lives
 * with {@code demo} because it owns a scratch cluster; {@link ArrakisCli} hangs it under {@code
 * bench}.
 */
@Command(
    name = "cluster",
    mixinStandardHelpOptions = true,
    description =
        "Measure the in-process MoE block (one layer of a generated model, --callers threads each sending "
            + "--tokens-token batches), then a local cluster of a router and --nodes expert processes serving the same "
            + "model under closed-loop load with the same batches; print both tokens/s and cluster ÷ in-process. Then "
            + "latency: an open loop at half the cluster's saturation (p50, p99), and one-token calls through the router "
            + "and straight to the expert nodes (what the router adds). Every process's memory is sampled throughout: a "
            + "long --duration is a soak.")
final class BenchClusterCommand implements Callable<Integer> {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final int PROBE_WARMUP = 100;
  private static final int PROBE_CALLS = 500;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Mixin BenchClusterFlags clusterFlags;

  @Mixin BlockShape shape;

  @Option(
      names = "--skew",
      paramLabel = "S",
      defaultValue = "0",
      description =
          "Zipf exponent of the generated model's routing; 0 = even, so that placement does not decide (default: ${DEFAULT-VALUE}).")
  double skew;

  @Option(
      names = "--tokens",
      paramLabel = "T",
      defaultValue = "256",
      description = "Tokens per call (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(
      names = "--duration",
      paramLabel = "DURATION",
      defaultValue = "20s",
      converter = DurationConverter.class,
      description = "Measured time of each side (default: ${DEFAULT-VALUE}).")
  Duration duration;

  // the cluster side starts three fresh JVMs (and this one's gRPC client) whose JIT compilers are
  // still busy a minute in on two cores (C2 at 67% of the load generator's CPU 20 s in): a short
  // warm-up measures the compilers, not the cluster (ratio 0.64 after 5 s, 0.73 after 30 s, 0.91
  // after 120 s)
  @Option(
      names = "--warmup",
      paramLabel = "DURATION",
      defaultValue = "120s",
      converter = DurationConverter.class,
      description =
          "Unmeasured time before each side, while the JIT compilers settle (default: ${DEFAULT-VALUE}).")
  Duration warmup;

  @Option(
      names = "--inprocess-duration",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      description =
          "Measured time of the in-process side, when a long --duration soaks the cluster (default: --duration).")
  Duration inProcessDuration;

  @Option(
      names = "--latency-duration",
      paramLabel = "DURATION",
      defaultValue = "10s",
      converter = DurationConverter.class,
      description =
          "Open-loop run at half the measured saturation, for p50 and p99 (default: ${DEFAULT-VALUE}).")
  Duration latencyDuration;

  @Option(
      names = "--callers",
      paramLabel = "N",
      description = "In-process callers (threads) at once (default: one per core).")
  Integer callers;

  @Option(
      names = "--concurrency",
      paramLabel = "N",
      description = "Cluster callers, each with one call in flight (default: 2 per expert node).")
  Integer concurrency;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description =
          "Where the cluster's state and logs go (default: .arrakis/bench-cluster in the checkout).")
  Path stateDir;

  @Option(
      names = "--models-dir",
      paramLabel = "DIR",
      description =
          "Where generated benchmark models are kept, one per shape (default: .arrakis/bench-models in the checkout).")
  Path modelsDir;

  @Option(
      names = "--json",
      paramLabel = "FILE",
      description =
          "Also write {\"inprocess_tokens_per_s\", \"cluster_tokens_per_s\", \"ratio\", …} here.")
  Path json;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    GeneratorOptions generator =
        new GeneratorOptions(
            1, shape.experts, shape.hidden, shape.ffn, shape.topK, true, false, skew, 20241128L);
    String key =
        String.format(
            Locale.ROOT,
            "h%d-f%d-e%d-k%d-s%s",
            shape.hidden,
            shape.ffn,
            shape.experts,
            shape.topK,
            skew);
    Home home = Home.fromEnvironment();
    Path model =
        DemoModel.ensure(
            (modelsDir != null ? modelsDir : home.benchModels()).resolve(key),
            generator,
            "the benchmark model",
            err);
    int inProcessCallers = callers != null ? callers : Runtime.getRuntime().availableProcessors();
    int clusterCallers = concurrency != null ? concurrency : 2 * clusterFlags.nodes();
    float[] bias = InputBias.read(model);

    err.printf(
        Locale.ROOT,
        "in-process: %d callers x %d tokens, %.0f s warm-up + %.0f s ...%n",
        inProcessCallers,
        tokens,
        warmup.toMillis() / 1e3,
        (inProcessDuration != null ? inProcessDuration : duration).toMillis() / 1e3);
    BlockThroughput.Result inProcess = inProcess(model, inProcessCallers, bias);
    err.printf("in-process: %,.0f tokens/s%n", inProcess.tokensPerS());

    Path state = stateDir != null ? stateDir : home.benchState();
    ClusterOptions options = clusterFlags.options(model, state);
    LoadResult[] cluster = new LoadResult[2];
    LatencyProbe.Result[] probe = new LatencyProbe.Result[1];
    List<MemoryWatch.Series> memory = new ArrayList<>();
    ScratchCluster.run(
        state,
        "arrakis bench cluster",
        err,
        () -> {
          err.printf("starting %d expert nodes and a router ...%n", clusterFlags.nodes());
          LocalCluster c = LocalCluster.start(options);
          LoadOptions load =
              new LoadOptions(
                  c.routerAddress(),
                  c.security().routerClient(),
                  duration,
                  warmup,
                  clusterCallers,
                  TokenCounts.fixed(tokens),
                  List.of(),
                  Duration.ofSeconds(60),
                  LoadOptions.DEFAULT_POOL_SIZE,
                  1);
          // a long --duration is the soak: resident memory must stay flat, so it is sampled
          // throughout
          Duration every =
              Duration.ofMillis(Math.max(1_000, duration.plus(warmup).toMillis() / 60));
          try (MemoryWatch watch = MemoryWatch.start(c, every)) {
            cluster[0] = new ClosedLoopDriver(load, bias).run(ProgressLine.stderr());
            memory.addAll(watch.stop());
          }
          Verdict.check(cluster[0]);
          double halfRate = cluster[0].requestsPerSecond() / 2;
          err.printf(
              Locale.ROOT,
              "latency at half of saturation: %.1f requests/s, open loop, %.0f s ...%n",
              halfRate,
              latencyDuration.toMillis() / 1e3);
          cluster[1] =
              new OpenLoopDriver(
                      load.withDuration(latencyDuration).withWarmup(Duration.ofSeconds(2)),
                      halfRate,
                      bias)
                  .run(ProgressLine.stderr());
          err.printf(
              "router-added latency: %d one-token calls through the router and straight to the nodes ...%n",
              PROBE_CALLS);
          probe[0] = probe(c, model, bias);
          return Verdict.check(cluster[1]);
        });
    LoadResult r = cluster[0];
    LoadResult half = cluster[1];
    LatencyProbe.Result p = probe[0];
    double ratio = r.tokensPerSecond() / inProcess.tokensPerS();
    out.println();
    out.print(TextReport.render(r));
    out.printf(
        Locale.ROOT,
        "MoE block hidden %d, ffn %d, %d experts, top-%d, float32, %d tokens per call%n",
        shape.hidden,
        shape.ffn,
        shape.experts,
        shape.topK,
        tokens);
    out.printf(
        Locale.ROOT,
        "in-process  %,10.0f tokens/s  (%d callers)%n",
        inProcess.tokensPerS(),
        inProcessCallers);
    out.printf(
        Locale.ROOT,
        "cluster     %,10.0f tokens/s  (router + %d expert processes, %d callers; p50 %.1f ms, p99 %.1f ms)%n",
        r.tokensPerSecond(),
        clusterFlags.nodes(),
        clusterCallers,
        r.latencyMillis(50),
        r.latencyMillis(99));
    out.printf(Locale.ROOT, "ratio       %.3f (cluster / in-process)%n", ratio);
    out.printf(
        Locale.ROOT,
        "half load   %.1f requests/s offered: p50 %.1f ms, p99 %.1f ms, p99/p50 %.2f%n",
        half.ratePerSecond(),
        half.latencyMillis(50),
        half.latencyMillis(99),
        half.latencyMillis(99) / half.latencyMillis(50));
    out.printf(
        Locale.ROOT,
        "router adds %.2f ms at p50 to a one-token call (%.2f ms through the router, %.2f ms straight to the nodes;"
            + " a bare round trip to the router, a health check, %.2f ms)%n",
        p.routerAddedP50Ms(),
        p.viaRouterP50Ms(),
        p.directP50Ms(),
        p.roundTripP50Ms());
    double measuredFrom = warmup.toMillis() / 1e3;
    for (MemoryWatch.Series m : memory) {
      out.printf(
          Locale.ROOT,
          "memory      %-10s RSS %,.0f MiB at the end, %+.1f MiB since the warm-up, max %,.0f MiB (%d samples)%n",
          m.member(),
          m.lastMib(),
          m.growthMib(measuredFrom),
          m.maxMib(),
          m.samples().size());
    }
    if (json != null) {
      ObjectNode root = toJson(inProcess, inProcessCallers, r, clusterCallers, ratio);
      root.putObject("half_saturation")
          .put("offered_requests_per_s", half.ratePerSecond())
          .put("p50_ms", half.latencyMillis(50))
          .put("p99_ms", half.latencyMillis(99))
          .put("p99_over_p50", half.latencyMillis(99) / half.latencyMillis(50))
          .put("failed", half.failed());
      root.putObject("router_added_latency")
          .put("tokens", p.tokens())
          .put("calls", PROBE_CALLS)
          .put("via_router_p50_ms", p.viaRouterP50Ms())
          .put("direct_p50_ms", p.directP50Ms())
          .put("router_added_p50_ms", p.routerAddedP50Ms())
          .put("router_round_trip_p50_ms", p.roundTripP50Ms());
      ObjectNode mem = root.putObject("memory_mib");
      for (MemoryWatch.Series m : memory) {
        ObjectNode n = mem.putObject(m.member());
        n.put("end", Math.round(m.lastMib() * 10) / 10.0)
            .put("growth_after_warmup", Math.round(m.growthMib(measuredFrom) * 10) / 10.0)
            .put("max", Math.round(m.maxMib() * 10) / 10.0);
        var series = n.putArray("samples_s_mib");
        m.samples()
            .forEach(
                sm ->
                    series
                        .addArray()
                        .add(Math.round(sm[0] * 10) / 10.0)
                        .add(Math.round(sm[1] / 102.4) / 10.0));
      }
      ReportFiles.write(json, JSON.writeValueAsString(root) + "\n");
      err.println("wrote " + json);
    }
    out.flush();
    if (r.failed() + half.failed() > 0) {
      throw new IllegalStateException(
          r.failed()
              + half.failed()
              + " cluster calls failed: "
              + r.byStatus()
              + " "
              + half.byStatus());
    }
    return 0;
  }

  /** One-token calls through the router and straight to the nodes holding their experts. */
  private LatencyProbe.Result probe(LocalCluster c, Path model, float[] bias)
      throws IOException, InterruptedException {
    Map<ExpertId, String> nodeOf = new HashMap<>();
    for (Member m : c.state().experts()) {
      m.experts().forEach(e -> nodeOf.putIfAbsent(e, m.address()));
    }
    try (MoeModel m = MoeModel.open(model)) {
      int layer = m.moeLayers().get(0);
      return new LatencyProbe(c.routerAddress(), nodeOf, m.gate(layer), layer, bias, 7)
          .run(1, PROBE_WARMUP, PROBE_CALLS);
    }
  }

  private BlockThroughput.Result inProcess(Path model, int callerThreads, float[] bias)
      throws IOException, InterruptedException {
    Blas.threads(1); // one native thread per caller, as on the expert nodes (OMP_NUM_THREADS=1)
    try (MoeModel m = MoeModel.open(model)) {
      int layer = m.moeLayers().get(0);
      List<ExpertKernel> kernels = new ArrayList<>();
      for (int e = 0; e < shape.experts; e++) {
        kernels.add(m.expert(layer, e));
      }
      return BlockThroughput.run(
          m.gate(layer),
          kernels,
          new BlockThroughput.Options(
              callerThreads,
              tokens,
              warmup,
              inProcessDuration != null ? inProcessDuration : duration,
              bias,
              1));
    } finally {
      // the weights are native memory that only a collection frees; the cluster needs the room
      System.gc();
    }
  }

  private ObjectNode toJson(
      BlockThroughput.Result inProcess,
      int inProcessCallers,
      LoadResult r,
      int clusterCallers,
      double ratio) {
    ObjectNode root = JSON.createObjectNode();
    root.put("inprocess_tokens_per_s", Math.round(inProcess.tokensPerS() * 10) / 10.0);
    root.put("cluster_tokens_per_s", Math.round(r.tokensPerSecond() * 10) / 10.0);
    root.put("ratio", Math.round(ratio * 1000) / 1000.0);
    ObjectNode config = root.putObject("config");
    config
        .put("nodes", clusterFlags.nodes())
        .put("hidden", shape.hidden)
        .put("ffn", shape.ffn)
        .put("experts", shape.experts)
        .put("top_k", shape.topK)
        .put("skew", skew)
        .put("tokens_per_call", tokens)
        .put("duration_s", duration.toMillis() / 1000.0)
        .put("warmup_s", warmup.toMillis() / 1000.0)
        .put("inprocess_callers", inProcessCallers)
        .put("cluster_callers", clusterCallers)
        .put("dtype", "float32");
    ObjectNode c = root.putObject("cluster");
    c.put("sent", r.sent())
        .put("ok", r.ok())
        .put("failed", r.failed())
        .put("unanswered", r.unanswered())
        .put("p50_ms", r.latencyMillis(50))
        .put("p99_ms", r.latencyMillis(99))
        .put("imbalance", r.load() == null ? Double.NaN : r.load().imbalance());
    root.set("machine", Machine.describe());
    return root;
  }
}
