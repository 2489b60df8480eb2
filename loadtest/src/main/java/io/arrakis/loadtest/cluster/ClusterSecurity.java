package io.arrakis.loadtest.cluster;

import io.arrakis.security.ClientSecurity;
import io.arrakis.security.LocalCertificateAuthority;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.arrakis.security.Tokens;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * How a local cluster's gRPC is secured: plaintext (the default, on 127.0.0.1 only), or TLS on
 * every server with the files of {@code arrakis certs} (expert nodes then serve only routers, by
 * their router certificate, and the router calls only servers with an expert certificate);
 * optionally a public bearer token the router requires on its Inference service; always an admin
 * token for its Cluster service (the cluster makes one unless given one).
 *
 * @param tls whether every server uses TLS
 * @param tlsDir ca.crt and the router, expert and client certificates; null with {@code tls} until
 *     {@link #prepare} has made them in the state folder
 * @param authTokenFile the file holding the router's public bearer token, or null
 * @param adminTokenFile the file holding the router's admin token; null until {@link #prepare} has
 *     made one in the state folder, unless given
 */
public record ClusterSecurity(boolean tls, Path tlsDir, Path authTokenFile, Path adminTokenFile) {
  public static final ClusterSecurity PLAINTEXT = new ClusterSecurity(false, null, null, null);

  /** Certificates the cluster makes for itself live as long as it does; a year outlasts any run. */
  private static final Duration VALIDITY = Duration.ofDays(365);

  private static final List<Role> ROLES = List.of(Role.ROUTER, Role.EXPERT, Role.CLIENT);

  public ClusterSecurity {
    if (!tls && tlsDir != null) {
      throw new IllegalArgumentException("a TLS folder is for a TLS cluster");
    }
    tlsDir = tlsDir == null ? null : tlsDir.toAbsolutePath().normalize();
    authTokenFile = authTokenFile == null ? null : authTokenFile.toAbsolutePath().normalize();
    adminTokenFile = adminTokenFile == null ? null : adminTokenFile.toAbsolutePath().normalize();
  }

  /**
   * TLS with the files in {@code dir}, or, with null, with a CA and certificates the cluster makes.
   */
  public static ClusterSecurity tls(Path dir) {
    return new ClusterSecurity(true, dir, null, null);
  }

  public ClusterSecurity withAuthTokenFile(Path file) {
    return new ClusterSecurity(tls, tlsDir, file, adminTokenFile);
  }

  public ClusterSecurity withAdminTokenFile(Path file) {
    return new ClusterSecurity(tls, tlsDir, authTokenFile, file);
  }

  /**
   * What the cluster runs with: the token files and given certificates checked, or a new CA and
   * certificates made in the state folder's {@link StateLayout#tlsDir()} (for 127.0.0.1 and
   * localhost); a new admin token in {@link StateLayout#adminTokenFile()} unless one was given.
   */
  ClusterSecurity prepare(StateLayout layout) throws IOException {
    if (authTokenFile != null) {
      ClientSecurity.readToken(authTokenFile);
    }
    if (adminTokenFile != null) {
      ClientSecurity.readToken(adminTokenFile);
      if (adminTokenFile.equals(layout.adminTokenFile())) {
        throw new IllegalArgumentException(
            "--admin-token-file "
                + adminTokenFile
                + " is where the cluster makes its "
                + "own admin token (and removes it when it stops); give another file, or none");
      }
    }
    Path admin = adminTokenFile != null ? adminTokenFile : Tokens.write(layout.adminTokenFile());
    if (!tls) {
      return withAdminTokenFile(admin);
    }
    if (tlsDir != null) {
      if (tlsDir.equals(layout.tlsDir())) {
        throw new IllegalArgumentException(
            "--tls-dir "
                + tlsDir
                + " is where the cluster makes its own certificates "
                + "(and removes them when it stops); give another folder, or --tls alone");
      }
      for (Role role : ROLES) {
        TlsFiles.in(tlsDir, role).checkRole(role);
      }
      return withAdminTokenFile(admin);
    }
    FileTrees.delete(layout.tlsDir());
    try {
      List<String> local = List.of("localhost", LocalCluster.HOST);
      LocalCertificateAuthority.createFiles(layout.tlsDir(), local, local, VALIDITY);
    } catch (GeneralSecurityException e) {
      throw new IOException("could not make the cluster's certificates: " + e.getMessage(), e);
    }
    return new ClusterSecurity(true, layout.tlsDir(), authTokenFile, admin);
  }

  /** The flags of an expert node process. */
  List<String> expertArgs() {
    return tls ? List.of("--tls-dir", tlsDir.toString()) : List.of();
  }

  /** The flags of the router process (and of any router joining it). */
  public List<String> routerArgs() {
    List<String> args = new ArrayList<>(expertArgs());
    if (authTokenFile != null) {
      args.addAll(List.of("--auth-token-file", authTokenFile.toString()));
    }
    if (adminTokenFile != null) {
      args.addAll(List.of("--admin-token-file", adminTokenFile.toString()));
    }
    return args;
  }

  /**
   * How tools reach any node of the cluster (health checks): the client certificate where TLS, no
   * token.
   */
  public ClientSecurity nodeClient() throws IOException {
    return tls ? ClientSecurity.of(TlsFiles.in(tlsDir, Role.CLIENT)) : ClientSecurity.PLAINTEXT;
  }

  /**
   * How tools call the router: as {@link #nodeClient()}, with the public token where there is one
   * and the admin token on calls to the admin Cluster service.
   */
  public ClientSecurity routerClient() throws IOException {
    return nodeClient().withTokenFile(authTokenFile).withAdminTokenFile(adminTokenFile);
  }

  /** "TLS (certificates in DIR)" or "plaintext", plus the token files. */
  public String describe() {
    return (tls ? "TLS (certificates in " + tlsDir + ")" : "plaintext")
        + (authTokenFile == null ? "" : ", router bearer token from " + authTokenFile)
        + (adminTokenFile == null ? "" : ", admin token in " + adminTokenFile);
  }
}
