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
 * where the server demands one (an expert node), presenting a certificate; with or without a bearer
 * token for a router started with {@code --auth-token-file}.
 *
 * @param caCert the CA to trust; null for plaintext
 * @param cert this client's certificate, or null (then {@code key} is null too)
 * @param key the certificate's key (PKCS#8 PEM), or null
 * @param tokenFile a file holding the bearer token, or null
 */
public record ClientSecurity(Path caCert, Path cert, Path key, Path tokenFile) {
  public static final ClientSecurity PLAINTEXT = new ClientSecurity(null, null, null, null);

  public ClientSecurity {
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException("a client certificate needs its key and a key its certificate "
          + "(--tls-cert and --tls-key go together)");
    }
    if (cert != null && caCert == null) {
      throw new IllegalArgumentException("a client certificate needs the CA to trust too (--tls-ca FILE)");
    }
  }

  /** TLS with the CA, certificate and key of {@code files}, no token. */
  public static ClientSecurity of(TlsFiles files) {
    return new ClientSecurity(files.caCert(), files.cert(), files.key(), null);
  }

  public boolean tls() {
    return caCert != null;
  }

  public ClientSecurity withTokenFile(Path file) {
    return new ClientSecurity(caCert, cert, key, file);
  }

  /** A channel builder for HOST:PORT set up for this transport, with the token on every call. */
  public NettyChannelBuilder channelBuilder(String target) throws IOException {
    NettyChannelBuilder b = NettyChannelBuilder.forTarget(target);
    if (tls()) {
      checkReadable();
      b.sslContext(sslContext());
    } else {
      b.usePlaintext();
    }
    if (tokenFile != null) {
      b.intercept(bearer(readToken(tokenFile)));
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

  private static ClientInterceptor bearer(String token) {
    BearerToken credentials = new BearerToken(token);
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        return next.newCall(method, options.withCallCredentials(credentials));
      }
    };
  }
}
