package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.model.placement.Strategies;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * How the processes of a local cluster run, whatever their layout: shared by {@code up}, {@code
 * demo}, {@code placement compare}.
 */
final class ProcessFlags {
  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "Compute threads per expert node (default: one per core).")
  Integer threads;

  @Option(
      names = "--metrics-port",
      paramLabel = "PORT",
      defaultValue = "0",
      description =
          "Prometheus metrics: router on this port, expert node i on port+1+i; 0 = off (default: ${DEFAULT-VALUE}).")
  int metricsPort;

  @Option(
      names = "--java-opts",
      paramLabel = "OPTS",
      defaultValue = "-Xmx1g",
      description = "JVM options of every node process (default: ${DEFAULT-VALUE}).")
  String javaOpts;

  @Option(
      names = "--start-timeout",
      paramLabel = "DURATION",
      defaultValue = "120s",
      converter = DurationConverter.class,
      description = "How long the processes may take to serve (default: ${DEFAULT-VALUE}).")
  Duration startTimeout;

  ClusterOptions options(
      Path model,
      Integer nodes,
      int replicas,
      Strategies.Kind kind,
      Path placement,
      int routerPort,
      Path stateDir) {
    List<String> jvm =
        javaOpts.isBlank() ? List.of() : Arrays.asList(javaOpts.trim().split("\\s+"));
    return new ClusterOptions(
        model,
        nodes,
        replicas,
        kind,
        placement,
        routerPort,
        metricsPort,
        threads,
        stateDir,
        jvm,
        startTimeout,
        null,
        null,
        0);
  }
}
