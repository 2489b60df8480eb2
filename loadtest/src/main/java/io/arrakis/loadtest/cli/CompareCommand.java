package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.Progress;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.load.ReferenceCheck;
import io.arrakis.loadtest.placement.StrategyComparison;
import io.arrakis.loadtest.placement.StrategyComparison.Outcome;
import io.arrakis.loadtest.placement.StrategyComparison.Row;
import io.arrakis.loadtest.placement.StrategyComparison.Variant;
import io.arrakis.loadtest.report.ComparisonReport;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.Strategies;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis placement compare}: one local cluster of its own, the same load under each
 * placement strategy (and replica budget), a side-by-side table. It lives with {@code demo}
 * because, like it, it owns a scratch cluster; {@link ArrakisCli} hangs it under {@code placement}.
 */
@Command(
    name = "compare",
    mixinStandardHelpOptions = true,
    description =
        "Start a local cluster, measure tokens per expert under load (the profile), then roll out each "
            + "strategy's placement planned from that profile and drive the same load under it; print tokens/s, latency, "
            + "predicted and measured imbalance and experts moved side by side, check answers against the in-process "
            + "reference, stop the cluster. Load defaults: --duration 15s --warmup 3s --concurrency 16 --tokens 16.")
final class CompareCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description = "Model directory (default: the demo model, made once).")
  Path model;

  @Option(
      names = "--nodes",
      paramLabel = "N",
      defaultValue = "4",
      description = "Expert nodes (default: ${DEFAULT-VALUE}).")
  int nodes;

  @Option(
      names = "--slots-per-node",
      paramLabel = "S",
      description =
          "Expert slots per node in each layer (default: enough for every expert once, plus half as many again).")
  Integer slots;

  @Option(
      names = "--strategies",
      paramLabel = "LIST",
      split = ",",
      defaultValue = "contiguous,round-robin,balanced",
      description = "Strategies to compare, in order (default: ${DEFAULT-VALUE}).")
  List<String> strategies;

  @Option(
      names = "--replicas-per-layer",
      paramLabel = "R",
      split = ",",
      description =
          "Replica budgets for balanced, e.g. 16,24: one balanced run each (default: every slot).")
  List<Integer> budgets = List.of();

  @Option(
      names = "--profile",
      paramLabel = "DURATION",
      defaultValue = "10s",
      converter = DurationConverter.class,
      description =
          "Load on the starting (contiguous) placement that measures tokens per expert (default: ${DEFAULT-VALUE}).")
  Duration profile;

  @Mixin ReportFlags reports;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description =
          "Where the cluster's state, placements and logs go (default: .arrakis/compare-cluster in the checkout).")
  Path stateDir;

  @Mixin ProcessFlags process;

  @Mixin LoadFlags load;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Home home = Home.fromEnvironment();
    Path dir = model != null ? model : DemoModel.ensure(home.demoModel(), err);
    List<Variant> variants = StrategyComparison.Variant.parse(strategies, budgets);
    LoadOptions loadOptions =
        load.options("127.0.0.1:0", null, Duration.ofSeconds(15), Duration.ofSeconds(3), 16, "16");
    Path state = stateDir != null ? stateDir : home.compareState();
    ClusterOptions options =
        process.options(dir, nodes, 1, Strategies.Kind.CONTIGUOUS, null, 0, state);
    return ScratchCluster.run(
        state,
        "arrakis placement compare",
        err,
        () -> run(options, variants, loadOptions, out, err));
  }

  private int run(
      ClusterOptions options,
      List<Variant> variants,
      LoadOptions loadOptions,
      PrintWriter out,
      PrintWriter err)
      throws IOException, InterruptedException {
    List<Integer> layers;
    int experts;
    try (MoeModel m = MoeModel.open(options.model())) {
      layers = m.moeLayers();
      experts = m.config().numExperts();
    }
    int s = slots != null ? slots : StrategyComparison.defaultSlots(experts, nodes);
    err.printf(
        "starting %d expert nodes and a router (contiguous placement, %d slots per node per layer) ...%n",
        nodes, s);
    LocalCluster c = LocalCluster.start(options);
    float[] bias = InputBias.read(options.model());
    StrategyComparison comparison =
        new StrategyComparison(c.routerAddress(), nodes, s, layers, experts, bias);
    Outcome outcome =
        comparison.run(
            variants,
            loadOptions.withTarget(c.routerAddress(), c.security().routerClient()),
            profile,
            new StrategyComparison.Listener() {
              @Override
              public void note(String line) {
                err.println(line);
              }

              @Override
              public Progress.Listener progress() {
                return ProgressLine.stderr();
              }
            });
    out.println();
    out.print(ComparisonReport.table(outcome));
    reports.write(
        err,
        p -> ComparisonReport.writeJson(outcome, p),
        p -> ComparisonReport.writeHtml(outcome, p));
    ReferenceCheck.Result check =
        ScratchCluster.check(
            c.routerAddress(), c.security().routerClient(), options.model(), bias, out);
    for (Row r : outcome.rows()) {
      Verdict.check(r.result());
    }
    if (!check.passed()) {
      throw new IllegalStateException("the cluster's answers differ from the in-process reference");
    }
    return 0;
  }
}
