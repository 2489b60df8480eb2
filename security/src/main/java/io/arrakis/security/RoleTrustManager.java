package io.arrakis.security;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The JDK's trust manager for the cluster CA (chain, validity, extended key usage and, through the
 * engine, host name checks), and on top of it: the server's certificate must be of one role. A
 * handshake with a server of another role fails, so not a byte of a request reaches it.
 */
final class RoleTrustManager extends X509ExtendedTrustManager {
  private final X509ExtendedTrustManager ca;
  private final Role server;

  private RoleTrustManager(X509ExtendedTrustManager ca, Role server) {
    this.ca = ca;
    this.server = server;
  }

  static RoleTrustManager requiringServer(KeyStore trusted, Role server)
      throws GeneralSecurityException {
    TrustManagerFactory f =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    f.init(trusted);
    for (TrustManager t : f.getTrustManagers()) {
      if (t instanceof X509ExtendedTrustManager x) {
        return new RoleTrustManager(x, server);
      }
    }
    throw new GeneralSecurityException("no X.509 trust manager in " + f.getAlgorithm());
  }

  private void checkRole(X509Certificate[] chain) throws CertificateException {
    Role actual = Role.of(chain[0]).orElse(null);
    if (actual != server) {
      throw new CertificateException(
          "the server's certificate ("
              + chain[0].getSubjectX500Principal().getName()
              + ") is "
              + (actual == null ? "of no Arrakis role" : actual.certificate())
              + ", not "
              + server.certificate());
    }
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    ca.checkServerTrusted(chain, authType, engine);
    checkRole(chain);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    ca.checkServerTrusted(chain, authType, socket);
    checkRole(chain);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    ca.checkServerTrusted(chain, authType);
    checkRole(chain);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    ca.checkClientTrusted(chain, authType, engine);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    ca.checkClientTrusted(chain, authType, socket);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    ca.checkClientTrusted(chain, authType);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return ca.getAcceptedIssuers();
  }
}
