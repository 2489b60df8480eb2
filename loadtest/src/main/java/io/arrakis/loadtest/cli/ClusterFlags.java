package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.model.placement.Strategies;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Option;

/** How a local cluster is laid out and run: shared by {@code up} and {@code demo}. */
final class ClusterFlags {
  @Option(names = "--replicas", paramLabel = "R", defaultValue = "1",
      description = "Distinct nodes holding each expert (default: ${DEFAULT-VALUE}).")
  int replicas;

  @Option(names = "--strategy", paramLabel = "NAME", defaultValue = "contiguous",
      description = "How experts are dealt to nodes: contiguous or round-robin (default: ${DEFAULT-VALUE}).")
  String strategy;

  @Option(names = "--threads", paramLabel = "N", description = "Compute threads per expert node (default: one per core).")
  Integer threads;

  @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "0",
      description = "Prometheus metrics: router on this port, expert node i on port+1+i; 0 = off (default: ${DEFAULT-VALUE}).")
  int metricsPort;

  @Option(names = "--java-opts", paramLabel = "OPTS", defaultValue = "-Xmx1g",
      description = "JVM options of every node process (default: ${DEFAULT-VALUE}).")
  String javaOpts;

  @Option(names = "--start-timeout", paramLabel = "DURATION", defaultValue = "120s", converter = DurationConverter.class,
      description = "How long the processes may take to serve (default: ${DEFAULT-VALUE}).")
  Duration startTimeout;

  ClusterOptions options(Path model, Integer nodes, Path placement, int routerPort, Path stateDir) {
    Strategies.Kind kind = Strategies.Kind.parse(strategy);
    List<String> jvm = javaOpts.isBlank() ? List.of() : Arrays.asList(javaOpts.trim().split("\\s+"));
    return new ClusterOptions(model, nodes, replicas, kind, placement, routerPort, metricsPort, threads, stateDir, jvm,
        startTimeout, null);
  }

  String describe(ClusterOptions o) {
    if (o.placementFile() != null) {
      return "placement " + o.placementFile();
    }
    return Strategies.Kind.parse(strategy).name().toLowerCase(java.util.Locale.ROOT).replace('_', '-') + ", "
        + o.replicas() + (o.replicas() == 1 ? " replica" : " replicas");
  }
}
