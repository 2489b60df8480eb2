package io.arrakis.loadtest.simulate.calibrate;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.bench.Machine;
import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.simulate.Calibration;
import io.arrakis.loadtest.simulate.SharedHostFit;
import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.moe.MoeModel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Measures what the simulator needs on this machine: the expert block and the gate timed in this
 * process, then a real 1-node local cluster driven by closed-loop runs of different concurrency and
 * tokens, whose CPU seconds per process are split into per-request, per-token, per-call and per-row
 * costs by a non-negative least-squares fit. For the expert node the in-process timings give the
 * kernel's shape (how its time grows with rows) and {@link KernelEstimate} what each run's calls
 * would cost by them; the fit scales that to the node's own CPU seconds, since a node's kernels run
 * amid other processes' memory traffic and this process's ran alone.
 */
public final class Calibrator {
  /** A measured run: closed loop with {@code concurrency} callers of {@code tokens} tokens. */
  public record Run(int concurrency, int tokens) {}

  /**
   * Runs that separate the costs: 16 callers merge several requests per call, 2 callers about one;
   * 1, 16 and 64 tokens tell per-token from per-request work, and one-token calls (two expert rows)
   * per-call work from the experts'.
   */
  public static final List<Run> DEFAULT_RUNS =
      List.of(new Run(16, 64), new Run(16, 16), new Run(2, 16), new Run(2, 1));

  /**
   * What to calibrate: the model, the cluster's JVMs and the runs' lengths.
   *
   * @param model the model the cluster serves
   * @param jvmOptions options of the cluster's JVMs (measure with those the cluster to predict
   *     uses)
   * @param computeThreads compute threads of the expert node; null = its default (one per core)
   * @param warmup load before each run, not measured
   * @param settleLimit how long load may run first until the processes' CPU per request holds still
   *     and their JIT compilers are quiet
   * @param runDuration each measured run
   * @param runs the runs
   * @param stateDir the cluster's state folder
   * @param seed seed of the inputs and of the kernel estimate
   */
  public record Options(
      Path model,
      List<String> jvmOptions,
      Integer computeThreads,
      Duration warmup,
      Duration settleLimit,
      Duration runDuration,
      List<Run> runs,
      Path stateDir,
      long seed) {
    public Options {
      runs = List.copyOf(runs);
      jvmOptions = List.copyOf(jvmOptions);
      if (runs.size() < 3) {
        throw new IllegalArgumentException(
            "calibration needs at least 3 runs to separate its costs, got " + runs.size());
      }
    }
  }

  /**
   * Calls the router may have in flight to the calibration's node, per compute thread: with two,
   * each thread finds its next call waiting when it finishes one (as a 1-thread node does under the
   * router's default of 2), so that the runs with many callers keep the cores busy rather than
   * waiting on round trips.
   */
  static final int IN_FLIGHT_PER_COMPUTE_THREAD = 2;

  /** The node's compute threads: as given, else its default, one per core. */
  private static int computeThreads(Options o) {
    return o.computeThreads() == null
        ? Runtime.getRuntime().availableProcessors()
        : o.computeThreads();
  }

  /** Calls the router may have in flight to the calibration's node. */
  private static int maxInFlight(Options o) {
    return IN_FLIGHT_PER_COMPUTE_THREAD * computeThreads(o);
  }

  /** Windows of the settling phase. */
  static final Duration SETTLE_WINDOW = Duration.ofSeconds(4);

  /** The calibration and what it was derived from (for the record). */
  public record Result(Calibration calibration, ObjectNode measurements) {}

  private Calibrator() {}

  /** Work done after each measured run, while the calibration's cluster is up and idle. */
  @FunctionalInterface
  public interface BetweenRuns {
    void after(Run run) throws InterruptedException;
  }

  public static Result calibrate(Options o, PrintWriter log)
      throws IOException, InterruptedException {
    return calibrate(o, log, run -> {});
  }

  /**
   * Calibrates, calling {@code between} after each run: a measurement that is to be compared with
   * the calibration can take turns with its runs, so that both see the same stretches of a machine
   * whose speed changes over minutes.
   */
  public static Result calibrate(Options o, PrintWriter log, BetweenRuns between)
      throws IOException, InterruptedException {
    ModelConfig config;
    int moeLayers;
    // each run's driver builds its request pool from the seed: gated here as the router gates it
    Map<Integer, KernelEstimate> estimates = new HashMap<>();
    float[] bias = InputBias.read(o.model());
    try (MoeModel model = MoeModel.open(o.model())) {
      config = model.config();
      moeLayers = model.moeLayers().size();
      for (Run r : o.runs()) {
        if (!estimates.containsKey(r.tokens())) {
          estimates.put(
              r.tokens(),
              KernelEstimate.of(model, bias, r.tokens(), LoadOptions.DEFAULT_POOL_SIZE, o.seed()));
        }
      }
    }
    log.printf(
        Locale.ROOT,
        "timing the expert block (hidden %d, ffn %d) and the gate (%d experts) in process ...%n",
        config.hiddenSize(),
        config.intermediateSize(),
        config.numExperts());
    List<Calibration.Point> expert =
        KernelTiming.expert(config.hiddenSize(), config.intermediateSize(), o.seed());
    List<KernelTiming.GatePoint> gate =
        KernelTiming.gate(config.hiddenSize(), config.numExperts(), config.topK(), o.seed());
    double gatePerToken = KernelTiming.gatePerToken(gate);

    List<ClusterMeter.Window> windows = new ArrayList<>();
    ClusterOptions cluster =
        ClusterOptions.of(o.model(), 1, o.stateDir())
            .withJvmOptions(o.jvmOptions())
            .withComputeThreads(o.computeThreads());
    int maxInFlight = maxInFlight(o);
    log.printf(
        Locale.ROOT,
        "starting a 1-node local cluster (%d compute threads, %d calls in flight) ...%n",
        computeThreads(o),
        maxInFlight);
    try (LocalCluster c =
        LocalCluster.start(
            cluster, Map.of("ARRAKIS_NODE_MAX_IN_FLIGHT", Integer.toString(maxInFlight)))) {
      Run first = o.runs().get(0);
      log.printf(
          Locale.ROOT,
          "settling: %d callers x %d tokens until CPU per request holds still and the JIT"
              + " compilers are quiet (at most %d s) ...%n",
          first.concurrency(),
          first.tokens(),
          o.settleLimit().toSeconds());
      ClusterMeter.measureSettled(
          c,
          bias,
          first.concurrency(),
          first.tokens(),
          SETTLE_WINDOW,
          o.settleLimit(),
          o.seed(),
          log);
      for (Run run : o.runs()) {
        log.printf(
            Locale.ROOT,
            "run: %d callers x %d tokens, %d s ...%n",
            run.concurrency(),
            run.tokens(),
            o.runDuration().toSeconds());
        ClusterMeter.Window w =
            ClusterMeter.measure(
                c, bias, run.concurrency(), run.tokens(), o.warmup(), o.runDuration(), o.seed());
        if (w.failed() > 0 || w.requests() == 0) {
          throw new IllegalStateException(
              "calibration run "
                  + run
                  + " had "
                  + w.failed()
                  + " failed requests and "
                  + w.requests()
                  + " answered; see the cluster's logs in "
                  + c.layout().root().resolve("logs"));
        }
        log.printf(
            Locale.ROOT,
            "  %,.0f tokens/s, %.2f calls/request; CPU ms/request: router %.2f, node %.2f, client %.2f%n",
            w.tokensPerSecond(),
            (double) w.calls() / w.requests(),
            1e3 * w.routerCpu() / w.requests(),
            1e3 * w.nodeCpu() / w.requests(),
            1e3 * w.clientCpu() / w.requests());
        windows.add(w);
        between.after(run);
      }
    }
    Fit fit = fit(windows, estimates, expert, gatePerToken, o.seed());
    double scale = fit.node[0];
    if (!(scale > 0)) {
      throw new IllegalStateException(
          "the expert nodes' CPU time could not be told apart into expert kernels and "
              + "per-call work (kernel scale "
              + scale
              + "); measure longer runs (--duration)");
    }
    Calibration costs =
        new Calibration(
            new Calibration.ModelSizes(
                config.hiddenSize(), config.intermediateSize(), config.numExperts(), config.topK()),
            expert.stream().map(p -> new Calibration.Point(p.rows(), p.seconds() * scale)).toList(),
            new Calibration.RouterCosts(
                fit.router[0], fit.router[1], gatePerToken / config.numExperts(), fit.router[2]),
            new Calibration.NodeCosts(fit.node[1], fit.node[2]),
            new Calibration.ClientCosts(fit.client[0], fit.client[1]),
            Calibration.SharedHost.IDEAL,
            new Calibration.Source(
                Machine.cpu(),
                Runtime.getRuntime().availableProcessors(),
                OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.SECONDS).toString(),
                "in-process expert and gate timings (thread CPU time); a 1-node local cluster ("
                    + String.join(" ", o.jvmOptions())
                    + ") under "
                    + o.runs().size()
                    + " closed-loop runs, CPU time per "
                    + "process split by non-negative least squares; the shared host fitted to"
                    + " their throughput"));
    HostFit host = fitHost(o, moeLayers, costs, windows, estimates, log);
    Calibration calibration = costs.withHost(host.host());
    ObjectNode measured = measurements(o, gate, windows, fit);
    measured.put("zipf_skew_of_the_gates", host.skew());
    ArrayNode ratios = measured.putArray("simulated_over_measured_with_shared_host");
    host.fit().ratios().forEach(ratios::add);
    return new Result(calibration, measured);
  }

  private record HostFit(SharedHostFit.Result fit, double skew) {
    Calibration.SharedHost host() {
      return fit.host();
    }
  }

  /**
   * What sharing the machine costs beyond the CPU: the simulator, given the fitted costs, is made
   * to reproduce the runs' measured throughput.
   */
  private static HostFit fitHost(
      Options o,
      int moeLayers,
      Calibration costs,
      List<ClusterMeter.Window> windows,
      Map<Integer, KernelEstimate> estimates,
      PrintWriter log) {
    int cores = Runtime.getRuntime().availableProcessors();
    int computeThreads = computeThreads(o);
    // the pool with the most tokens shows the gates' popularity best
    int most = estimates.keySet().stream().max(Integer::compare).orElseThrow();
    double skew = estimates.get(most).zipfSkew();
    SharedHostFit.Cluster cluster =
        new SharedHostFit.Cluster(cores, computeThreads, maxInFlight(o), moeLayers, skew);
    List<SharedHostFit.Run> runs =
        windows.stream()
            .map(
                w ->
                    new SharedHostFit.Run(
                        w.concurrency(), w.tokens(), w.tokensPerSecond(), w.foreignCores()))
            .toList();
    log.printf(
        Locale.ROOT,
        "fitting the shared host to the runs' throughput (gates' Zipf skew %.2f) ...%n",
        skew);
    SharedHostFit.Result fit = SharedHostFit.fit(costs, runs, cluster);
    log.printf(
        Locale.ROOT,
        "  efficiency %.2f, hand-off %.0f us; simulated / measured per run: %s%n",
        fit.host().efficiency(),
        1e6 * fit.host().handOffSeconds(),
        fit.ratios().stream().map(r -> String.format(Locale.ROOT, "%.2f", r)).toList());
    return new HostFit(fit, skew);
  }

  /** The fitted costs and the kernel estimate of each run. */
  private record Fit(double[] router, double[] node, double[] client, double[] kernelSeconds) {}

  private static Fit fit(
      List<ClusterMeter.Window> windows,
      Map<Integer, KernelEstimate> estimates,
      List<Calibration.Point> expert,
      double gatePerToken,
      long seed) {
    int n = windows.size();
    double[][] routerA = new double[n][];
    double[] routerB = new double[n];
    double[][] nodeA = new double[n][];
    double[] nodeB = new double[n];
    double[][] clientA = new double[n][];
    double[] clientB = new double[n];
    double[] kernel = new double[n];
    for (int i = 0; i < n; i++) {
      ClusterMeter.Window w = windows.get(i);
      double requests = w.requests();
      double tokens = requests * w.tokens();
      double calls = w.calls();
      // one node: each request is one slice, each of its tokens one row
      kernel[i] = calls * estimates.get(w.tokens()).secondsPerCall(requests / calls, expert, seed);
      routerA[i] = new double[] {requests, tokens, calls};
      routerB[i] = w.routerCpu() - gatePerToken * tokens;
      nodeA[i] = new double[] {kernel[i], calls, tokens};
      nodeB[i] = w.nodeCpu();
      clientA[i] = new double[] {requests, tokens};
      clientB[i] = w.clientCpu();
    }
    return new Fit(
        Nnls.solve(routerA, routerB),
        Nnls.solve(nodeA, nodeB),
        Nnls.solve(clientA, clientB),
        kernel);
  }

  private static ObjectNode measurements(
      Options o, List<KernelTiming.GatePoint> gate, List<ClusterMeter.Window> windows, Fit fit) {
    ObjectNode m = JsonNodeFactory.instance.objectNode();
    m.put("model", o.model().toAbsolutePath().toString());
    m.put(
        "cluster",
        "1 expert node, compute threads "
            + computeThreads(o)
            + (o.computeThreads() == null ? " (default)" : "")
            + ", calls in flight "
            + maxInFlight(o));
    m.put("kernel_scale", fit.node()[0]);
    ArrayNode g = m.putArray("gate_cpu_s");
    gate.forEach(p -> g.addObject().put("tokens", p.tokens()).put("seconds", p.seconds()));
    ArrayNode runs = m.putArray("runs");
    for (int i = 0; i < windows.size(); i++) {
      ClusterMeter.Window w = windows.get(i);
      runs.addObject()
          .put("concurrency", w.concurrency())
          .put("tokens", w.tokens())
          .put("seconds", w.seconds())
          .put("requests", w.requests())
          .put("calls", w.calls())
          .put("token_expert_pairs", w.pairs())
          .put("tokens_per_s", w.tokensPerSecond())
          .put("router_cpu_s", w.routerCpu())
          .put("node_cpu_s", w.nodeCpu())
          .put("client_cpu_s", w.clientCpu())
          .put("node_kernel_cpu_s_in_process", fit.kernelSeconds()[i])
          .put("other_programs_cores", w.foreignCores());
    }
    return m;
  }
}
