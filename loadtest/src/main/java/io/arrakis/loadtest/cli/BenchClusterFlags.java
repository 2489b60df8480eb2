package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.model.placement.Strategies;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;

/**
 * The cluster a benchmark starts for itself: {@code --nodes} expert processes run as {@link
 * ProcessFlags} say, each expert on one node (contiguous ranges), the router on a free port. Shared
 * by {@code bench cluster} and {@code bench serve}.
 */
final class BenchClusterFlags {
  @Mixin NodesFlag nodes;

  @Mixin ProcessFlags process;

  int nodes() {
    return nodes.count;
  }

  ClusterOptions options(Path model, Path stateDir) {
    return process.options(model, nodes.count, 1, Strategies.Kind.CONTIGUOUS, null, 0, stateDir);
  }
}
