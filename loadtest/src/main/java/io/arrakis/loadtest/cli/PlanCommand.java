package io.arrakis.loadtest.cli;

import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.model.placement.planner.Balance;
import io.arrakis.model.placement.planner.Loads;
import io.arrakis.model.placement.planner.Plan;
import io.arrakis.model.placement.planner.Planner;
import io.arrakis.model.placement.planner.Strategy;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis placement plan}: a placement from observed loads, with its predicted balance. */
@Command(
    name = "plan",
    mixinStandardHelpOptions = true,
    description =
        "Plan a placement from observed loads ({\"layers\": [[tokens per expert], ...]} or the router's "
            + "stats export from 'placement export-loads') and print its predicted balance: max node load / mean node "
            + "load, averaged over layers (1.0 is perfect).")
final class PlanCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--loads",
      required = true,
      paramLabel = "LOADS.json",
      description = "Observed tokens per expert.")
  Path loads;

  @Option(names = "--nodes", required = true, paramLabel = "N", description = "Expert nodes.")
  int nodes;

  @Option(
      names = "--slots-per-node",
      required = true,
      paramLabel = "S",
      description = "Expert slots per node in each layer.")
  int slots;

  @Option(
      names = "--strategy",
      paramLabel = "NAME",
      defaultValue = "balanced",
      description = "contiguous, round-robin or balanced (default: ${DEFAULT-VALUE}).")
  String strategy;

  @Option(
      names = "--current",
      paramLabel = "PLACEMENT.json",
      description =
          "The placement in use: experts stay where that costs no balance; moves are reported.")
  Path current;

  @Option(
      names = "--replicas-per-layer",
      paramLabel = "R",
      description = "balanced: expert copies per layer (default: every slot, nodes x slots).")
  Integer replicas;

  @Option(
      names = "--balance-slack",
      paramLabel = "X",
      defaultValue = "0",
      description =
          "With --current: relative balance given up to move fewer experts, 0..1 (default: ${DEFAULT-VALUE}).")
  double slack;

  @Option(
      names = "--experts",
      paramLabel = "E",
      description =
          "Experts per layer of the model (the stats export may not list idle last experts).")
  Integer experts;

  @Option(
      names = "--output",
      required = true,
      paramLabel = "PLACEMENT.json",
      description = "Where to write the placement.")
  Path output;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Strategy s = Strategy.parse(strategy);
    Loads l = Loads.read(loads, experts == null ? OptionalInt.empty() : OptionalInt.of(experts));
    Optional<Placement> cur =
        current == null ? Optional.empty() : Optional.of(PlacementJson.read(current));
    Planner.Options options = Planner.Options.defaults().withBalanceSlack(slack);
    if (replicas != null) {
      options = options.withReplicasPerLayer(replicas);
    }
    Plan plan = Planner.plan(l, nodes, slots, s, cur, options);
    Path parent = output.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    PlacementJson.write(plan.placement(), output);
    out.printf(
        Locale.ROOT,
        "plan        %s, %d nodes x %d slots per layer, %d layers x %d experts%n",
        s.label(),
        nodes,
        slots,
        l.numLayers(),
        l.numExperts());
    out.printf(
        Locale.ROOT,
        "balance     %s predicted (lower bound %.3f)%n",
        describe(plan.balance()),
        plan.bound().mean());
    if (cur.isPresent()) {
      out.println(
          "current     "
              + plan.currentBalance()
                  .map(PlanCommand::describe)
                  .orElse("n/a (it leaves experts that carried load without a node)"));
      out.printf(
          Locale.ROOT, "moved       %d experts loaded, %d dropped%n", plan.moved(), plan.dropped());
    }
    out.printf(Locale.ROOT, "wrote       %s (version %d)%n", output, plan.placement().version());
    out.flush();
    return 0;
  }

  // the mean is what the planner optimises; the worst layer shows whether one layer lags behind
  private static String describe(Balance b) {
    return String.format(Locale.ROOT, "%.3f (worst layer %.3f)", b.mean(), b.worst());
  }
}
