package io.arrakis.engine.cli;

import io.arrakis.model.cli.CliErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arrakis model …}: make, inspect and run models in process. */
@Command(
    name = "arrakis model",
    mixinStandardHelpOptions = true,
    description = "Generate, inspect, run and score MoE models in process.",
    subcommands = {
      GenerateCommand.class,
      InspectCommand.class,
      RunCommand.class,
      ScoreCommand.class,
      ModelCli.Reference.class
    })
public final class ModelCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "missing subcommand: generate, inspect, run, score or reference");
  }

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line; errors in the user's input print one line, not a stack trace. */
  public static int execute(String... args) {
    CommandLine cli = new CommandLine(new ModelCommand());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("error: " + CliErrors.oneLine(e));
          return 1;
        });
    return cli.execute(args);
  }
}
