package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.ClusterSecurity;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.model.placement.Strategies;
import io.arrakis.security.Transport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * How a local cluster is laid out (and, through {@link ProcessFlags}, run): shared by {@code up}
 * and {@code demo}.
 */
final class ClusterFlags {
  @Option(
      names = "--replicas",
      paramLabel = "R",
      defaultValue = "1",
      description = "Distinct nodes holding each expert (default: ${DEFAULT-VALUE}).")
  int replicas;

  @Option(
      names = "--strategy",
      paramLabel = "NAME",
      defaultValue = "contiguous",
      description =
          "How experts are dealt to nodes: contiguous or round-robin (default: ${DEFAULT-VALUE}).")
  String strategy;

  @Mixin ProcessFlags process;

  @Option(
      names = "--tls",
      description =
          "TLS on every process, mutual TLS between router and expert nodes: "
              + "a new CA and certificates in the state folder (removed by 'down'), or those of --tls-dir.")
  boolean tls;

  @Option(
      names = "--tls-dir",
      paramLabel = "DIR",
      description =
          "TLS with the files of 'arrakis certs' in DIR (ca.crt; router, expert, client .crt/.key); "
              + "implies --tls.")
  Path tlsDir;

  @Option(
      names = "--auth-token-file",
      paramLabel = "FILE",
      description =
          "Have the router require 'authorization: Bearer TOKEN' (TOKEN: the file's content) on its "
              + "public Inference service.")
  Path authTokenFile;

  @Option(
      names = "--admin-token-file",
      paramLabel = "FILE",
      description =
          "The router's admin token for its Cluster service (default: a new one in the state folder, "
              + "removed by 'down'; status, loadtest and placement read it from there).")
  Path adminTokenFile;

  ClusterOptions options(Path model, Integer nodes, Path placement, int routerPort, Path stateDir) {
    ClusterSecurity security =
        tls || tlsDir != null ? ClusterSecurity.tls(tlsDir) : ClusterSecurity.PLAINTEXT;
    return process
        .options(
            model,
            nodes,
            replicas,
            Strategies.Kind.parse(strategy),
            placement,
            routerPort,
            stateDir)
        .withSecurity(security.withAuthTokenFile(authTokenFile).withAdminTokenFile(adminTokenFile));
  }

  /** The one line that says a plaintext cluster is for local development. */
  static void warnIfPlaintext(ClusterOptions o, PrintWriter err) {
    if (!o.security().tls()) {
      err.println(
          "warning: " + Transport.checkPlaintext(LocalCluster.HOST, false) + " (--tls for TLS)");
    }
  }

  String describe(ClusterOptions o) {
    String layout =
        o.placementFile() != null
            ? "placement " + o.placementFile()
            : Strategies.Kind.parse(strategy).name().toLowerCase(Locale.ROOT).replace('_', '-')
                + ", "
                + o.replicas()
                + (o.replicas() == 1 ? " replica" : " replicas");
    return layout + (o.security().tls() ? ", TLS" : "");
  }
}
