package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.loadtest.simulate.Calibration;
import io.arrakis.loadtest.simulate.CalibrationJson;
import io.arrakis.loadtest.simulate.Projection;
import io.arrakis.loadtest.simulate.SimConfig;
import io.arrakis.model.placement.planner.Strategy;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis simulate}: projected throughput and latency against node count. */
@Command(
    name = "simulate",
    mixinStandardHelpOptions = true,
    description =
        "Project throughput, p50/p99 latency, utilisation and the limiting resource against node count with "
            + "a discrete-event model of routers, links and expert nodes, priced by a calibration of this machine "
            + "('simulate calibrate'). Hidden and FFN sizes are the calibration's; experts, top-k and layers are free. "
            + "Load defaults: closed loop, 16 callers per node up to what the routers admit (max-inflight-tokens / tokens), "
            + "16 tokens per request.",
    subcommands = {CalibrateCommand.class})
final class SimulateCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--calibration",
      paramLabel = "FILE",
      description =
          "Costs from 'simulate calibrate' (default: the built-in one, measured on the project's development machine).")
  Path calibration;

  @Option(
      names = "--nodes",
      paramLabel = "N,...",
      split = ",",
      defaultValue = "8,64,256,1024",
      description = "Expert node counts to simulate (default: ${DEFAULT-VALUE}).")
  List<Integer> nodes;

  @Option(
      names = "--routers",
      paramLabel = "R",
      defaultValue = "1",
      description = "Router nodes (default: ${DEFAULT-VALUE}).")
  int routers;

  @Option(
      names = "--experts",
      paramLabel = "E",
      description = "Experts per layer (default: the calibration's).")
  Integer experts;

  @Option(
      names = "--top-k",
      paramLabel = "K",
      description = "Experts per token (default: the calibration's).")
  Integer topK;

  @Option(
      names = "--layers",
      paramLabel = "L",
      defaultValue = "1",
      description =
          "MoE layers; requests go to them in turn, each with its own hot experts (default: ${DEFAULT-VALUE}).")
  int layers;

  @Option(
      names = "--skew",
      paramLabel = "S",
      defaultValue = "1.0",
      description = "Zipf exponent of expert popularity, 0 = uniform (default: ${DEFAULT-VALUE}).")
  double skew;

  @Option(
      names = "--strategy",
      paramLabel = "NAME",
      defaultValue = "balanced",
      description =
          "contiguous, round-robin or balanced (the planner, from a sample of the load) (default: ${DEFAULT-VALUE}).")
  String strategy;

  @Option(
      names = "--replicas",
      paramLabel = "R",
      defaultValue = "1",
      description =
          "contiguous and round-robin: distinct nodes holding each expert (default: ${DEFAULT-VALUE}).")
  int replicas;

  @Option(
      names = "--slots-per-node",
      paramLabel = "S",
      description =
          "balanced: expert slots per node and layer (default: ceil(1.125 x experts / nodes), an eighth spare).")
  Integer slots;

  @Option(
      names = "--replicas-per-layer",
      paramLabel = "R",
      description = "balanced: the replica budget, expert copies per layer (default: every slot).")
  Integer replicasPerLayer;

  @Option(
      names = "--tokens",
      paramLabel = "T",
      defaultValue = "16",
      description =
          "Tokens per request: a count (16) or a uniform range (1-64) (default: ${DEFAULT-VALUE}).")
  String tokens;

  @Option(
      names = "--concurrency",
      paramLabel = "N",
      description = "Closed loop: N callers whatever the node count.")
  Integer concurrency;

  @Option(
      names = "--concurrency-per-node",
      paramLabel = "N",
      description =
          "Closed loop: N callers per expert node, even past what the routers admit (default: 16 per node, "
              + "up to what they admit).")
  Integer concurrencyPerNode;

  @Option(
      names = "--rate",
      paramLabel = "R",
      description = "Open loop: R requests per second on average (Poisson).")
  Double rate;

  @Option(
      names = "--requests",
      paramLabel = "N",
      defaultValue = "10000",
      description = "Requests measured per node count (default: ${DEFAULT-VALUE}).")
  int requests;

  @Option(
      names = "--node-cores",
      paramLabel = "C",
      defaultValue = "8",
      description =
          "Cores per expert node machine; its compute threads too unless --compute-threads (default: ${DEFAULT-VALUE}).")
  int nodeCores;

  @Option(
      names = "--compute-threads",
      paramLabel = "N",
      description = "Compute threads per expert node (default: its cores).")
  Integer computeThreads;

  @Option(
      names = "--router-cores",
      paramLabel = "C",
      defaultValue = "16",
      description = "Cores per router machine (default: ${DEFAULT-VALUE}).")
  int routerCores;

  @Option(
      names = "--node-link-gbps",
      paramLabel = "G",
      defaultValue = "25",
      description = "Each expert node's link, Gb/s per direction (default: ${DEFAULT-VALUE}).")
  double nodeLink;

  @Option(
      names = "--router-link-gbps",
      paramLabel = "G",
      defaultValue = "25",
      description = "Each router's link, Gb/s per direction (default: ${DEFAULT-VALUE}).")
  double routerLink;

  @Option(
      names = "--link-latency-us",
      paramLabel = "US",
      defaultValue = "20",
      description = "One-way latency between machines in microseconds (default: ${DEFAULT-VALUE}).")
  double latency;

  @Option(
      names = "--local-host",
      paramLabel = "CORES",
      arity = "0..1",
      fallbackValue = "0",
      description =
          "Model a local cluster instead ('arrakis up'): router, nodes and load driver share one machine of "
              + "CORES cores (default: this machine's); node and router machine options are then ignored.")
  Integer localHost;

  @Option(
      names = "--max-in-flight",
      paramLabel = "N",
      defaultValue = "2",
      description =
          "Router: Compute calls in flight per node (node-max-in-flight) (default: ${DEFAULT-VALUE}).")
  int maxInFlight;

  @Option(
      names = "--max-batch-tokens",
      paramLabel = "N",
      defaultValue = "4096",
      description =
          "Router: tokens per Compute call (node-max-batch-tokens) (default: ${DEFAULT-VALUE}).")
  int maxBatchTokens;

  @Option(
      names = "--admission-tokens",
      paramLabel = "N",
      defaultValue = "16384",
      description =
          "Router: tokens in flight before Forward is refused (max-inflight-tokens) (default: ${DEFAULT-VALUE}).")
  long admissionTokens;

  @Option(
      names = "--seed",
      paramLabel = "SEED",
      defaultValue = "1",
      description = "Random seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--json",
      paramLabel = "FILE",
      description = "Also write the projection as JSON to this file.")
  Path json;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Calibration costs =
        calibration == null ? CalibrationJson.builtIn() : CalibrationJson.read(calibration);
    if (nodes.isEmpty() || nodes.stream().anyMatch(n -> n == null || n < 1)) {
      throw new IllegalArgumentException("--nodes must list positive node counts, got " + nodes);
    }
    if (requests < 1) {
      throw new IllegalArgumentException("--requests must be at least 1, got " + requests);
    }
    SimConfig base = config(costs);
    Projection p = Projection.run(costs, base, nodes, this::workload);
    out.printf(Locale.ROOT, "calibration %s%n", describe(costs));
    out.printf(Locale.ROOT, "cluster     %s%n", describeCluster(base));
    out.printf(Locale.ROOT, "load        %s%n", describeLoad(base));
    out.println();
    out.print(p.table());
    out.flush();
    if (json != null) {
      p.writeJson(json);
      err.println("wrote " + json);
    }
    return 0;
  }

  private SimConfig config(Calibration costs) {
    int e = experts != null ? experts : costs.model().experts();
    int k = topK != null ? topK : costs.model().topK();
    Strategy s = Strategy.parse(strategy);
    if (s != Strategy.BALANCED && (slots != null || replicasPerLayer != null)) {
      throw new IllegalArgumentException(
          "--slots-per-node and --replicas-per-layer apply to --strategy balanced");
    }
    SimConfig.Layout layout =
        new SimConfig.Layout(
            s,
            replicas,
            slots == null ? 0 : slots,
            replicasPerLayer == null ? 0 : replicasPerLayer);
    SimConfig.Hardware hw;
    if (localHost != null) {
      int cores = localHost > 0 ? localHost : Runtime.getRuntime().availableProcessors();
      hw = SimConfig.Hardware.localHost(cores, computeThreads != null ? computeThreads : cores);
    } else {
      hw =
          new SimConfig.Hardware(
              nodeCores,
              computeThreads != null ? computeThreads : nodeCores,
              routerCores,
              0,
              nodeLink,
              routerLink,
              latency);
    }
    return new SimConfig(
        new SimConfig.Shape(nodes.get(0), routers, e, k, layers),
        layout,
        new SimConfig.Dispatch(maxInFlight, maxBatchTokens, admissionTokens),
        hw,
        workload(nodes.get(0)),
        seed);
  }

  private SimConfig.Workload workload(int nodeCount) {
    int given =
        (concurrency != null ? 1 : 0)
            + (concurrencyPerNode != null ? 1 : 0)
            + (rate != null ? 1 : 0);
    if (given > 1) {
      throw new IllegalArgumentException(
          "give one of --concurrency, --concurrency-per-node and --rate");
    }
    TokenCounts t = TokenCounts.parse(tokens);
    if (rate != null) {
      return SimConfig.Workload.open(skew, t, rate, requests / 5, requests);
    }
    int callers =
        concurrency != null
            ? concurrency
            : (concurrencyPerNode != null ? concurrencyPerNode : 16) * nodeCount;
    if (concurrency == null && concurrencyPerNode == null) {
      callers =
          Math.min(callers, admitted(t)); // callers past what the routers admit only meet refusals
    }
    // a closed loop settles once most callers have been answered (past admission, many wait
    // refused)
    return SimConfig.Workload.closed(
        skew, t, callers, Math.max(requests / 5, Math.min(callers, 10_000)), requests);
  }

  /** Requests of mean size the routers let in at once (admission control). */
  private int admitted(TokenCounts t) {
    return (int)
        Math.max(
            1,
            Math.min(
                Integer.MAX_VALUE, routers * admissionTokens / Math.max(1, Math.round(t.mean()))));
  }

  private static String describe(Calibration c) {
    return String.format(
        Locale.ROOT,
        "%s, %d cores, %s: hidden %d, ffn %d",
        c.source().machine(),
        c.source().cores(),
        c.source().measuredAt(),
        c.model().hidden(),
        c.model().ffn());
  }

  private static String describeCluster(SimConfig c) {
    SimConfig.Shape s = c.shape();
    SimConfig.Hardware h = c.hardware();
    String layout =
        c.layout().strategy().label()
            + (c.layout().strategy() == Strategy.BALANCED
                ? (c.layout().slotsPerNode() > 0
                        ? ", " + c.layout().slotsPerNode() + " slots/node"
                        : "")
                    + (c.layout().replicasPerLayer() > 0
                        ? ", " + c.layout().replicasPerLayer() + " replicas/layer"
                        : "")
                : ", "
                    + c.layout().replicas()
                    + (c.layout().replicas() == 1 ? " replica" : " replicas"));
    String hardware =
        h.shared()
            ? String.format(
                Locale.ROOT,
                "one shared machine of %.0f cores, %d compute threads per node",
                h.hostCores(),
                h.computeThreads())
            : String.format(
                Locale.ROOT,
                "%d router(s) of %d cores, nodes of %d cores (%d compute threads), links %.0f/%.0f Gb/s, %.0f us",
                s.routers(),
                h.routerCores(),
                h.nodeCores(),
                h.computeThreads(),
                h.routerLinkGbps(),
                h.nodeLinkGbps(),
                h.linkLatencyMicros());
    return String.format(
        Locale.ROOT,
        "%d experts x %d layer(s), top-%d, Zipf %.2f, %s; %s",
        s.experts(),
        s.layers(),
        s.topK(),
        c.workload().skew(),
        layout,
        hardware);
  }

  private String describeLoad(SimConfig c) {
    String how =
        rate != null
            ? String.format(Locale.ROOT, "open loop, %,.0f requests/s (Poisson)", rate)
            : concurrency != null
                ? "closed loop, " + concurrency + " callers"
                : concurrencyPerNode != null
                    ? "closed loop, " + concurrencyPerNode + " callers per node"
                    : "closed loop, 16 callers per node up to the "
                        + admitted(TokenCounts.parse(tokens))
                        + " requests the router(s) admit at once";
    return how
        + ", "
        + c.workload().tokens()
        + " tokens/request, "
        + requests
        + " requests measured per row";
  }
}
