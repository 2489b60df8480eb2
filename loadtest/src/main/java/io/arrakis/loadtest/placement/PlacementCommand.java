package io.arrakis.loadtest.placement;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arrakis placement plan|export-loads|apply}. */
@Command(name = "placement", mixinStandardHelpOptions = true,
    description = "Plan an expert placement from observed load, export the router's load, or roll a placement out.",
    subcommands = {PlanCommand.class, ExportLoadsCommand.class, ApplyCommand.class})
public final class PlacementCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command: plan, export-loads or apply");
  }
}
