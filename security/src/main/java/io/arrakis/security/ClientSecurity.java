package io.arrakis.security;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.net.ssl.SSLException;

/**
 * How a client reaches an Arrakis server: plaintext, or TLS trusting a CA ({@code caCert}) and,
 * where the server demands or takes one, presenting a certificate; with or without the public
 * bearer token of a router started with {@code --auth-token-file}, and the admin token of one
 * started with {@code --admin-token-file}. Each token goes only where it is for: the admin token on
 * calls to the admin {@code Cluster} service, the public token on every other call.
 *
 * @param caCert the CA to trust; null for plaintext
 * @param cert this client's certificate, or null (then {@code key} is null too)
 * @param key the certificate's key (PKCS#8 PEM), or null
 * @param tokenFile a file holding the public bearer token, or null
 * @param adminTokenFile a file holding the admin bearer token, or null
 */
public record ClientSecurity(
    Path caCert, Path cert, Path key, Path tokenFile, Path adminTokenFile) {
  public static final ClientSecurity PLAINTEXT = new ClientSecurity(null, null, null, null, null);

  /**
   * The admin service, which takes the admin token instead of the public one ({@code
   * arrakis.v1.Cluster}).
   */
  public static final String ADMIN_SERVICE = "arrakis.v1.Cluster";

  public ClientSecurity {
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException(
          "a client certificate needs its key and a key its certificate "
              + "(--tls-cert and --tls-key go together)");
    }
    if (cert != null && caCert == null) {
      throw new IllegalArgumentException(
          "a client certificate needs the CA to trust too (--tls-ca FILE)");
    }
  }

  /** Without an admin token. */
  public ClientSecurity(Path caCert, Path cert, Path key, Path tokenFile) {
    this(caCert, cert, key, tokenFile, null);
  }

  /** TLS with the CA, certificate and key of {@code files}, no token. */
  public static ClientSecurity of(TlsFiles files) {
    return new ClientSecurity(files.caCert(), files.cert(), files.key(), null);
  }

  public boolean tls() {
    return caCert != null;
  }

  public ClientSecurity withTokenFile(Path file) {
    return new ClientSecurity(caCert, cert, key, file, adminTokenFile);
  }

  public ClientSecurity withAdminTokenFile(Path file) {
    return new ClientSecurity(caCert, cert, key, tokenFile, file);
  }

  /**
   * A channel builder for HOST:PORT set up for this transport, with each token on the calls it is
   * for.
   */
  public NettyChannelBuilder channelBuilder(String target) throws IOException {
    NettyChannelBuilder b = NettyChannelBuilder.forTarget(target);
    if (tls()) {
      checkReadable();
      b.sslContext(sslContext());
    } else {
      b.usePlaintext();
    }
    if (tokenFile != null || adminTokenFile != null) {
      b.intercept(
          bearer(
              tokenFile == null ? null : new BearerToken(readToken(tokenFile)),
              adminTokenFile == null ? null : new BearerToken(readToken(adminTokenFile))));
    }
    return b;
  }

  /** The client TLS context this describes; only when {@link #tls()}. */
  SslContext sslContext() throws SSLException {
    SslContextBuilder b = GrpcSslContexts.forClient().trustManager(caCert.toFile());
    return (cert == null ? b : b.keyManager(cert.toFile(), key.toFile())).build();
  }

  // Netty's own message for a missing file names no file
  private void checkReadable() throws IOException {
    for (Path p : cert == null ? new Path[] {caCert} : new Path[] {caCert, cert, key}) {
      if (!Files.isReadable(p)) {
        throw new IOException("TLS file " + p + " is missing or unreadable");
      }
    }
  }

  /** The token in {@code file} (surrounding white space dropped); never empty. */
  public static String readToken(Path file) throws IOException {
    String token;
    try {
      token = Files.readString(file).strip();
    } catch (IOException e) {
      throw new IOException("cannot read the bearer token file " + file + ": " + e.getMessage(), e);
    }
    if (token.isEmpty()) {
      throw new IOException("the bearer token file " + file + " is empty");
    }
    return token;
  }

  private static ClientInterceptor bearer(BearerToken publicToken, BearerToken adminToken) {
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(
          MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        BearerToken token =
            ADMIN_SERVICE.equals(method.getServiceName()) ? adminToken : publicToken;
        return next.newCall(method, token == null ? options : options.withCallCredentials(token));
      }
    };
  }
}
