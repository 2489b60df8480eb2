package io.arrakis.loadtest.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arrakis placement plan|export-loads|apply|compare} (compare is added by ArrakisCli). */
@Command(
    name = "placement",
    mixinStandardHelpOptions = true,
    description =
        "Plan an expert placement from observed load, export the router's load, roll a placement out, "
            + "or compare strategies on a local cluster.",
    subcommands = {PlanCommand.class, ExportLoadsCommand.class, ApplyCommand.class})
public final class PlacementCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "missing command: plan, export-loads, apply or compare");
  }
}
