package io.arrakis.loadtest.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arrakis bench kernel}. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
    subcommands = {KernelCommand.class})
public final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command: kernel");
  }
}
