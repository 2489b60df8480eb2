package io.arrakis.security;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.net.ssl.SSLException;

/**
 * A node's TLS material in one directory, as {@code arrakis certs} writes it: the cluster CA
 * ({@code ca.crt}) and this node's certificate and key ({@code NAME.crt}, {@code NAME.key}).
 */
public record TlsFiles(Path caCert, Path cert, Path key) {
  /** The certificate a router serves and calls expert nodes with. */
  public static final String ROUTER = "router";
  /** The certificate an expert node serves with. */
  public static final String EXPERT = "expert";
  /** The certificate of tools and clients (load tester, health probes of a local cluster). */
  public static final String CLIENT = "client";

  /** The files for {@code name} in {@code dir}; each must exist. */
  public static TlsFiles in(Path dir, String name) throws IOException {
    TlsFiles f = new TlsFiles(dir.resolve("ca.crt"), dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
    for (Path p : new Path[] {f.caCert, f.cert, f.key}) {
      if (!Files.isReadable(p)) {
        throw new IOException("TLS file " + p + " is missing or unreadable (make them with: ./arrakis certs --out " + dir + ")");
      }
    }
    return f;
  }

  /**
   * A server context presenting this node's certificate. With {@code requireClientCert}, callers
   * must present a certificate signed by the cluster CA (mutual TLS).
   */
  public SslContext server(boolean requireClientCert) throws SSLException {
    return GrpcSslContexts.forServer(cert.toFile(), key.toFile())
        .trustManager(caCert.toFile())
        .clientAuth(requireClientCert ? ClientAuth.REQUIRE : ClientAuth.NONE)
        .build();
  }

  /** A client context that trusts only the cluster CA and presents this node's certificate. */
  public SslContext client() throws SSLException {
    return ClientSecurity.of(this).sslContext();
  }
}
