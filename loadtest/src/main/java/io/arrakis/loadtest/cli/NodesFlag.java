package io.arrakis.loadtest.cli;

import picocli.CommandLine.Option;

/**
 * {@code --nodes N}: the expert nodes of a cluster a command starts for itself and stops ({@code
 * demo}, {@code bench cluster}, {@code bench serve}).
 */
final class NodesFlag {
  @Option(
      names = "--nodes",
      paramLabel = "N",
      defaultValue = "2",
      description = "Expert nodes (default: ${DEFAULT-VALUE}).")
  int count;
}
