package io.arrakis.loadtest.cluster;

import io.arrakis.security.ClientSecurity;
import io.arrakis.security.LocalCertificateAuthority;
import io.arrakis.security.TlsFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * How a local cluster's gRPC is secured: plaintext (the default, on 127.0.0.1 only), or TLS on every
 * server with the files of {@code arrakis certs} (expert nodes then serve only callers with a
 * certificate of that CA, and the router calls them with its own); optionally a bearer token that
 * the router requires on its Inference and Cluster services.
 *
 * @param tls whether every server uses TLS
 * @param tlsDir ca.crt and the router, expert and client certificates; null with {@code tls} until
 *     {@link #prepare} has made them in the state folder
 * @param authTokenFile the file holding the router's bearer token, or null
 */
public record ClusterSecurity(boolean tls, Path tlsDir, Path authTokenFile) {
  public static final ClusterSecurity PLAINTEXT = new ClusterSecurity(false, null, null);
  /** Certificates the cluster makes for itself live as long as it does; a year outlasts any run. */
  private static final Duration VALIDITY = Duration.ofDays(365);
  private static final List<String> NAMES = List.of(TlsFiles.ROUTER, TlsFiles.EXPERT, TlsFiles.CLIENT);

  public ClusterSecurity {
    if (!tls && tlsDir != null) {
      throw new IllegalArgumentException("a TLS folder is for a TLS cluster");
    }
    tlsDir = tlsDir == null ? null : tlsDir.toAbsolutePath().normalize();
    authTokenFile = authTokenFile == null ? null : authTokenFile.toAbsolutePath().normalize();
  }

  /** TLS with the files in {@code dir}, or, with null, with a CA and certificates the cluster makes. */
  public static ClusterSecurity tls(Path dir) {
    return new ClusterSecurity(true, dir, null);
  }

  public ClusterSecurity withAuthTokenFile(Path file) {
    return new ClusterSecurity(tls, tlsDir, file);
  }

  /**
   * What the cluster runs with: the token file and given certificates checked, or a new CA and
   * certificates made in the state folder's {@link StateLayout#tlsDir()} (for 127.0.0.1 and localhost).
   */
  ClusterSecurity prepare(StateLayout layout) throws IOException {
    if (authTokenFile != null) {
      ClientSecurity.readToken(authTokenFile);
    }
    if (!tls) {
      return this;
    }
    if (tlsDir != null) {
      if (tlsDir.equals(layout.tlsDir())) {
        throw new IllegalArgumentException("--tls-dir " + tlsDir + " is where the cluster makes its own certificates "
            + "(and removes them when it stops); give another folder, or --tls alone");
      }
      for (String name : NAMES) {
        TlsFiles.in(tlsDir, name);
      }
      return this;
    }
    FileTrees.delete(layout.tlsDir());
    try {
      LocalCertificateAuthority.createFiles(layout.tlsDir(), NAMES, List.of("localhost", LocalCluster.HOST), VALIDITY);
    } catch (GeneralSecurityException e) {
      throw new IOException("could not make the cluster's certificates: " + e.getMessage(), e);
    }
    return new ClusterSecurity(true, layout.tlsDir(), authTokenFile);
  }

  /** The flags of an expert node process. */
  List<String> expertArgs() {
    return tls ? List.of("--tls-dir", tlsDir.toString()) : List.of();
  }

  /** The flags of the router process. */
  List<String> routerArgs() {
    List<String> args = new ArrayList<>(expertArgs());
    if (authTokenFile != null) {
      args.addAll(List.of("--auth-token-file", authTokenFile.toString()));
    }
    return args;
  }

  /** How tools reach any node of the cluster (health checks): the client certificate where TLS, no token. */
  public ClientSecurity nodeClient() throws IOException {
    return tls ? ClientSecurity.of(TlsFiles.in(tlsDir, TlsFiles.CLIENT)) : ClientSecurity.PLAINTEXT;
  }

  /** How clients call the router: as {@link #nodeClient()}, with the bearer token where there is one. */
  public ClientSecurity routerClient() throws IOException {
    return nodeClient().withTokenFile(authTokenFile);
  }

  /** "TLS (certificates in DIR)" or "plaintext", plus the token file. */
  public String describe() {
    return (tls ? "TLS (certificates in " + tlsDir + ")" : "plaintext")
        + (authTokenFile == null ? "" : ", router bearer token from " + authTokenFile);
  }
}
