package io.arrakis.security;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Base64;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * A node's TLS material in one directory, as {@code arrakis certs} writes it: the cluster CA
 * ({@code ca.crt}) and this node's certificate and key ({@code NAME.crt}, {@code NAME.key}, NAME
 * being its {@link Role}'s file name).
 */
public record TlsFiles(Path caCert, Path cert, Path key) {
  /** The certificate a router serves and calls expert nodes with. */
  public static final String ROUTER = Role.ROUTER.fileName();

  /** The certificate an expert node serves with. */
  public static final String EXPERT = Role.EXPERT.fileName();

  /** The certificate of tools and clients (load tester, health probes of a local cluster). */
  public static final String CLIENT = Role.CLIENT.fileName();

  /** The certificate of operators calling the admin Cluster service. */
  public static final String ADMIN = Role.ADMIN.fileName();

  /** The files for {@code role} in {@code dir}; each must exist. */
  public static TlsFiles in(Path dir, Role role) throws IOException {
    return in(dir, role.fileName());
  }

  /** The files for {@code name} in {@code dir}; each must exist. */
  public static TlsFiles in(Path dir, String name) throws IOException {
    TlsFiles f =
        new TlsFiles(dir.resolve("ca.crt"), dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
    for (Path p : new Path[] {f.caCert, f.cert, f.key}) {
      if (!Files.isReadable(p)) {
        throw new IOException(
            "TLS file "
                + p
                + " is missing or unreadable (make them with: ./arrakis certs --out "
                + dir
                + ")");
      }
    }
    return f;
  }

  /**
   * Checks that the certificate is of {@code role}: a node started with another role's files (or
   * with files of an {@code arrakis certs} from before roles) would be refused by every peer, so it
   * says so at start instead.
   *
   * @return this
   */
  public TlsFiles checkRole(Role role) throws IOException {
    Role actual;
    try {
      actual = Role.of(certificate(cert)).orElse(null);
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot read the certificate " + cert + ": " + e.getMessage(), e);
    }
    if (actual != role) {
      throw new IOException(
          cert
              + " is "
              + (actual == null
                  ? "of no Arrakis role (made before certificates had roles?)"
                  : actual.certificate())
              + ", not "
              + role.certificate()
              + ": make new ones with "
              + "./arrakis certs --out "
              + cert.getParent()
              + " --force");
    }
    return this;
  }

  /**
   * A server context presenting this node's certificate. With {@code requireClientCert}, callers
   * must present a certificate signed by the cluster CA (mutual TLS); otherwise one may (a client
   * or admin certificate then identifies the caller, see {@link AccessPolicy}).
   */
  public SslContext server(boolean requireClientCert) throws SSLException {
    return GrpcSslContexts.forServer(cert.toFile(), key.toFile())
        .trustManager(caCert.toFile())
        .clientAuth(requireClientCert ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL)
        .build();
  }

  /** A client context that trusts only the cluster CA and presents this node's certificate. */
  public SslContext client() throws SSLException {
    return ClientSecurity.of(this).sslContext();
  }

  /**
   * As {@link #client()}, and the server must hold a certificate of role {@code server}: a router
   * calls only expert nodes with an expert certificate, whatever else the CA signed.
   */
  public SslContext client(Role server) throws IOException {
    try {
      return GrpcSslContexts.forClient()
          .trustManager(RoleTrustManager.requiringServer(trustStore(caCert), server))
          .keyManager(cert.toFile(), key.toFile())
          .build();
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot read the CA certificate " + caCert + ": " + e.getMessage(), e);
    }
  }

  /**
   * A JDK context presenting this certificate and trusting only the cluster CA, for transports
   * outside gRPC (Pekko remoting between routers).
   */
  public SSLContext jdkContext() throws IOException {
    try {
      char[] password =
          Base64.getEncoder().encodeToString(new SecureRandom().generateSeed(16)).toCharArray();
      KeyStore keys = KeyStore.getInstance("PKCS12");
      keys.load(null, null);
      keys.setKeyEntry("key", privateKey(), password, new Certificate[] {certificate(cert)});
      KeyManagerFactory km = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      km.init(keys, password);
      SSLContext ctx = SSLContext.getInstance("TLSv1.3");
      TrustManagerFactory tm =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tm.init(trustStore(caCert));
      ctx.init(km.getKeyManagers(), tm.getTrustManagers(), new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IOException(
          "cannot use the TLS files " + cert + ", " + key + ": " + e.getMessage(), e);
    }
  }

  /**
   * A JDK context that presents no certificate and trusts only the CA in {@code caCert}: for
   * clients of a server that asks for none, e.g. the router's HTTP API over TLS (the load tester,
   * tests).
   */
  public static SSLContext trustingOnly(Path caCert) throws IOException {
    try {
      TrustManagerFactory tm =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tm.init(trustStore(caCert));
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, tm.getTrustManagers(), new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot read the CA certificate " + caCert + ": " + e.getMessage(), e);
    }
  }

  private static KeyStore trustStore(Path caCert) throws IOException, GeneralSecurityException {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", certificate(caCert));
    return trust;
  }

  private static X509Certificate certificate(Path file)
      throws IOException, GeneralSecurityException {
    try (InputStream in = Files.newInputStream(file)) {
      return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
  }

  private PrivateKey privateKey() throws IOException {
    try (Reader r = Files.newBufferedReader(key);
        PEMParser pem = new PEMParser(r)) {
      if (!(pem.readObject() instanceof PrivateKeyInfo info)) {
        throw new IOException(key + " holds no PKCS#8 private key ('BEGIN PRIVATE KEY')");
      }
      return new JcaPEMKeyConverter().getPrivateKey(info);
    }
  }
}
