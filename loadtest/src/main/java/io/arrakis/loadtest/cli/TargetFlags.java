package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterState;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.security.ClientSecurity;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * Which router a client command calls and how: shared by {@code loadtest} and {@code placement
 * export-loads|apply}. Without {@code --target}, the router of the local cluster; when the target
 * is that router, TLS and the bearer tokens are as its state file says, unless a flag says
 * otherwise ({@code --tls-ca} with {@code --tls-cert}/{@code --tls-key} replace its TLS files,
 * {@code --auth-token-file} and {@code --admin-token-file} its tokens).
 */
public final class TargetFlags {
  @Option(
      names = "--target",
      paramLabel = "HOST:PORT",
      description = "Router HOST:PORT (default: the router of 'arrakis up').")
  String target;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "State folder of the local cluster (default: $ARRAKIS_HOME/.arrakis/cluster).")
  Path stateDir;

  @Option(
      names = "--tls-ca",
      paramLabel = "FILE",
      description =
          "Call the router over TLS, trusting this CA certificate "
              + "(ca.crt of 'arrakis certs'). Default: plaintext, or TLS as the local cluster's state file says.")
  Path tlsCa;

  @Option(
      names = "--tls-cert",
      paramLabel = "FILE",
      description =
          "With --tls-ca: client certificate to present (with --tls-key), for servers that ask for one.")
  Path tlsCert;

  @Option(
      names = "--tls-key",
      paramLabel = "FILE",
      description = "The key of --tls-cert (PKCS#8 PEM).")
  Path tlsKey;

  @Option(
      names = "--auth-token-file",
      paramLabel = "FILE",
      description =
          "Send 'authorization: Bearer TOKEN' on public "
              + "calls, TOKEN being this file's content (default: the local cluster's token when its router is the target).")
  Path authTokenFile;

  @Option(
      names = "--admin-token-file",
      paramLabel = "FILE",
      description =
          "Send this file's token on calls to the "
              + "router's admin Cluster service (placements, load) (default: the local cluster's admin token when its router "
              + "is the target). An admin certificate (--tls-cert/--tls-key) does instead.")
  Path adminTokenFile;

  /**
   * The router and how to reach it.
   *
   * @param address HOST:PORT
   * @param security TLS files and token to call it with
   * @param localCluster the local cluster's state when the target is its router, else null
   */
  public record Target(String address, ClientSecurity security, ClusterState localCluster) {}

  public Target resolve() throws IOException {
    Optional<LocalCluster> local =
        RunningClusters.running(stateDir != null ? stateDir : Home.fromEnvironment().clusterState())
            .filter(c -> c.state().router() != null && c.routerPort() > 0);
    String to =
        target != null
            ? target
            : local
                .map(LocalCluster::routerAddress)
                .orElseThrow(
                    () ->
                        new IllegalArgumentException(
                            "no --target given and no local cluster is running (start one with 'arrakis up')"));
    Optional<ClusterState> mine =
        local.filter(c -> c.routerAddress().equals(to)).map(LocalCluster::state);
    ClientSecurity recorded =
        mine.isPresent() ? mine.get().security().routerClient() : ClientSecurity.PLAINTEXT;
    ClientSecurity tls =
        tlsCa != null || tlsCert != null || tlsKey != null
            ? new ClientSecurity(tlsCa, tlsCert, tlsKey, null)
            : recorded;
    Path token = authTokenFile != null ? authTokenFile : recorded.tokenFile();
    Path admin = adminTokenFile != null ? adminTokenFile : recorded.adminTokenFile();
    return new Target(to, tls.withTokenFile(token).withAdminTokenFile(admin), mine.orElse(null));
  }
}
