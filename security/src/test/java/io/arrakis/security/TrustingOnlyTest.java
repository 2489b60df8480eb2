package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.security.cli.CertsMain;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TlsFiles#trustingOnly}: a client that presents no certificate reaches a server of the
 * cluster's CA, and no server of another CA.
 */
class TrustingOnlyTest {
  @TempDir Path dir;

  @Test
  void trustsTheClustersCaAndNoOther() throws Exception {
    assertThat(CertsMain.execute("--out", dir.toString())).isZero();
    Path other = dir.resolve("other");
    assertThat(CertsMain.execute("--out", other.toString())).isZero();
    SSLContext server = TlsFiles.in(dir, Role.ROUTER).jdkContext();

    assertThat(handshake(server, TlsFiles.trustingOnly(dir.resolve("ca.crt")))).isNotEmpty();
    assertThatThrownBy(() -> handshake(server, TlsFiles.trustingOnly(other.resolve("ca.crt"))))
        .isInstanceOf(SSLHandshakeException.class);
  }

  @Test
  void aFileThatIsNoCertificateIsNamed() throws Exception {
    Path notACert = Files.writeString(dir.resolve("ca.crt"), "not a certificate");
    assertThatThrownBy(() -> TlsFiles.trustingOnly(notACert))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(notACert.toString());
  }

  /** One TLS handshake over loopback: the protocol the two agreed on. */
  private static String handshake(SSLContext server, SSLContext client) throws Exception {
    try (SSLServerSocket listener =
        (SSLServerSocket) server.getServerSocketFactory().createServerSocket(0)) {
      CompletableFuture<Void> accepted =
          CompletableFuture.runAsync(
              () -> {
                try (SSLSocket s = (SSLSocket) listener.accept()) {
                  s.setSoTimeout(5000);
                  s.startHandshake();
                } catch (IOException e) {
                  // the client's failure is the one under test
                }
              });
      try (SSLSocket s =
          (SSLSocket)
              client.getSocketFactory().createSocket("127.0.0.1", listener.getLocalPort())) {
        s.setSoTimeout(5000);
        s.startHandshake();
        return s.getSession().getProtocol();
      } finally {
        accepted.get(10, TimeUnit.SECONDS);
      }
    }
  }
}
