package io.arrakis.security;

import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * What a certificate of the cluster CA is for. {@code arrakis certs} writes one certificate per
 * role ({@code NAME.crt}, {@code NAME.key} with NAME the role's {@link #fileName()}); the role is
 * in the certificate as a URI subject alternative name ({@code spiffe://arrakis/role/NAME}, the
 * form SPIFFE gives workload identities) and in the subject ({@code OU=NAME}), and its extended key
 * usage says whether it may serve, call, or both. Servers authorize callers by role, and routers
 * check that the expert nodes they call hold an expert certificate.
 */
public enum Role {
  /**
   * Serves the public API and Pekko remoting, calls expert nodes and other routers: server and
   * client usage.
   */
  ROUTER(true, true),
  /** Serves the Expert service to routers: server usage only. */
  EXPERT(true, false),
  /** Tools and clients calling the public API (and health checks): client usage only. */
  CLIENT(false, true),
  /** Operators calling the admin {@code Cluster} service: client usage only. */
  ADMIN(false, true);

  /** Prefix of the URI subject alternative name that carries the role. */
  public static final String URI_PREFIX = "spiffe://arrakis/role/";

  private static final int SAN_URI = 6;

  private final boolean serves;
  private final boolean calls;

  Role(boolean serves, boolean calls) {
    this.serves = serves;
    this.calls = calls;
  }

  /**
   * The base name of this role's files ({@code router.crt}, {@code router.key}) and its name in
   * messages.
   */
  public String fileName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether certificates of this role authenticate TLS servers (extended key usage serverAuth). */
  public boolean serves() {
    return serves;
  }

  /** Whether certificates of this role authenticate TLS clients (extended key usage clientAuth). */
  public boolean calls() {
    return calls;
  }

  public String uri() {
    return URI_PREFIX + fileName();
  }

  /** "a router certificate", "an expert certificate", as messages say it. */
  public String certificate() {
    return (this == EXPERT || this == ADMIN ? "an " : "a ") + fileName() + " certificate";
  }

  /**
   * The role a certificate names in its URI subject alternative names; empty when it names none or
   * several.
   */
  public static Optional<Role> of(X509Certificate cert) {
    Collection<List<?>> names;
    try {
      names = cert.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      return Optional.empty();
    }
    Role found = null;
    for (List<?> n : names == null ? List.<List<?>>of() : names) {
      if (n.size() == 2
          && Integer.valueOf(SAN_URI).equals(n.get(0))
          && n.get(1) instanceof String uri
          && uri.startsWith(URI_PREFIX)) {
        Role r = byFileName(uri.substring(URI_PREFIX.length()));
        if (r == null || (found != null && found != r)) {
          return Optional.empty();
        }
        found = r;
      }
    }
    return Optional.ofNullable(found);
  }

  /**
   * The role of the peer's certificate in a TLS session; empty without TLS, without a certificate
   * or role.
   */
  public static Optional<Role> ofPeer(SSLSession session) {
    if (session == null) {
      return Optional.empty();
    }
    try {
      Certificate[] chain = session.getPeerCertificates();
      return chain.length > 0 && chain[0] instanceof X509Certificate x ? of(x) : Optional.empty();
    } catch (SSLPeerUnverifiedException noCertificate) {
      return Optional.empty();
    }
  }

  private static Role byFileName(String s) {
    for (Role r : values()) {
      if (r.fileName().equals(s)) {
        return r;
      }
    }
    return null;
  }
}
