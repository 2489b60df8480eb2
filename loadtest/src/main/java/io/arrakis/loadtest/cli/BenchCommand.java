package io.arrakis.loadtest.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arrakis bench kernel}. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks: the in-process MoE block (kernel), a local cluster against it (cluster).",
    subcommands = {KernelCommand.class})
public final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command: kernel or cluster");
  }
}
