package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.ClusterSecurity;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.model.placement.Strategies;
import io.arrakis.security.Transport;
import java.io.PrintWriter;
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

  @Option(names = "--tls", description = "TLS on every process, mutual TLS between router and expert nodes: "
      + "a new CA and certificates in the state folder (removed by 'down'), or those of --tls-dir.")
  boolean tls;

  @Option(names = "--tls-dir", paramLabel = "DIR",
      description = "TLS with the files of 'arrakis certs' in DIR (ca.crt; router, expert, client .crt/.key); "
          + "implies --tls.")
  Path tlsDir;

  @Option(names = "--auth-token-file", paramLabel = "FILE",
      description = "Have the router require 'authorization: Bearer TOKEN' (TOKEN: the file's content) on its "
          + "Inference and Cluster services.")
  Path authTokenFile;

  @Option(names = "--start-timeout", paramLabel = "DURATION", defaultValue = "120s", converter = DurationConverter.class,
      description = "How long the processes may take to serve (default: ${DEFAULT-VALUE}).")
  Duration startTimeout;

  ClusterOptions options(Path model, Integer nodes, Path placement, int routerPort, Path stateDir) {
    Strategies.Kind kind = Strategies.Kind.parse(strategy);
    List<String> jvm = javaOpts.isBlank() ? List.of() : Arrays.asList(javaOpts.trim().split("\\s+"));
    ClusterSecurity security = tls || tlsDir != null ? ClusterSecurity.tls(tlsDir) : ClusterSecurity.PLAINTEXT;
    return new ClusterOptions(model, nodes, replicas, kind, placement, routerPort, metricsPort, threads, stateDir, jvm,
        startTimeout, null, security.withAuthTokenFile(authTokenFile));
  }

  /** The one line that says a plaintext cluster is for local development. */
  static void warnIfPlaintext(ClusterOptions o, PrintWriter err) {
    if (!o.security().tls()) {
      err.println("warning: " + Transport.checkPlaintext(LocalCluster.HOST, false) + " (--tls for TLS)");
    }
  }

  String describe(ClusterOptions o) {
    String layout = o.placementFile() != null ? "placement " + o.placementFile()
        : Strategies.Kind.parse(strategy).name().toLowerCase(java.util.Locale.ROOT).replace('_', '-') + ", "
            + o.replicas() + (o.replicas() == 1 ? " replica" : " replicas");
    return layout + (o.security().tls() ? ", TLS" : "");
  }
}
