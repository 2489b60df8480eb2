package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.model.placement.Strategies;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** How a local cluster is laid out (and, through {@link ProcessFlags}, run): shared by {@code up} and {@code demo}. */
final class ClusterFlags {
  @Option(names = "--replicas", paramLabel = "R", defaultValue = "1",
      description = "Distinct nodes holding each expert (default: ${DEFAULT-VALUE}).")
  int replicas;

  @Option(names = "--strategy", paramLabel = "NAME", defaultValue = "contiguous",
      description = "How experts are dealt to nodes: contiguous or round-robin (default: ${DEFAULT-VALUE}).")
  String strategy;

  @Mixin ProcessFlags process;

  ClusterOptions options(Path model, Integer nodes, Path placement, int routerPort, Path stateDir) {
    return process.options(model, nodes, replicas, Strategies.Kind.parse(strategy), placement, routerPort, stateDir);
  }

  String describe(ClusterOptions o) {
    if (o.placementFile() != null) {
      return "placement " + o.placementFile();
    }
    return Strategies.Kind.parse(strategy).name().toLowerCase(java.util.Locale.ROOT).replace('_', '-') + ", "
        + o.replicas() + (o.replicas() == 1 ? " replica" : " replicas");
  }
}
