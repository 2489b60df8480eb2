package io.arrakis.loadtest.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arrakis bench kernel}. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description =
        "Benchmarks: the in-process MoE block (kernel), a local cluster against it (cluster), whole-model "
            + "generation on a local cluster against one process, and ping-pong micro-batches (serve).",
    subcommands = {KernelCommand.class})
public final class BenchCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "missing command: kernel, cluster or serve");
  }
}
