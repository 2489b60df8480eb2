package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.security.cli.CertsMain;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Certificates of the wrong role, over loopback TLS: each role's certificate is good for its own
 * use only. A router (a client context requiring an expert server) refuses any server that is not
 * an expert node, however valid its certificate; a client certificate cannot serve at all; a server
 * certificate cannot call a server that asks for client certificates.
 */
class HostileCertificatesTest {
  private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
  private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

  @TempDir Path dir;
  final List<Server> servers = new ArrayList<>();

  @BeforeEach
  void certs() {
    assertThat(CertsMain.execute("--out", dir.toString(), "--expert-host", "*.arrakis-expert"))
        .isZero();
  }

  @AfterEach
  void stop() throws InterruptedException {
    for (Server s : servers) {
      s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  int serve(SslContext tls) throws Exception {
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    Server s =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .sslContext(tls)
            .addService(health.getHealthService())
            .build()
            .start();
    servers.add(s);
    return s.getPort();
  }

  /** A server presenting {@code role}'s certificate, taking client certificates where offered. */
  int serveAs(Role role, Path certs) throws Exception {
    return serve(
        GrpcSslContexts.forServer(
                certs.resolve(role.fileName() + ".crt").toFile(),
                certs.resolve(role.fileName() + ".key").toFile())
            .build());
  }

  static ServingStatus check(int port, SslContext client, String authority)
      throws InterruptedException {
    NettyChannelBuilder b = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(client);
    ManagedChannel ch = (authority == null ? b : b.overrideAuthority(authority)).build();
    try {
      return HealthGrpc.newBlockingStub(ch)
          .withDeadlineAfter(5, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance())
          .getStatus();
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  static void assertHandshakeFails(int port, SslContext client) {
    assertThatThrownBy(() -> check(port, client, null))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
  }

  static X509Certificate read(Path file) throws Exception {
    try (InputStream in = Files.newInputStream(file)) {
      return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
  }

  static List<String> sans(X509Certificate c) throws Exception {
    return c.getSubjectAlternativeNames().stream().map(n -> String.valueOf(n.get(1))).toList();
  }

  @Test
  void eachRoleHasItsOwnIdentityAndUsage() throws Exception {
    for (Role role : Role.values()) {
      X509Certificate c = read(dir.resolve(role.fileName() + ".crt"));
      assertThat(Role.of(c)).as("%s", role).contains(role);
      assertThat(c.getSubjectX500Principal().getName()).contains("OU=" + role.fileName());
      List<String> usage = c.getExtendedKeyUsage();
      assertThat(usage.contains(SERVER_AUTH)).as("%s serverAuth", role).isEqualTo(role.serves());
      assertThat(usage.contains(CLIENT_AUTH)).as("%s clientAuth", role).isEqualTo(role.calls());
      List<String> names = sans(c);
      if (role.serves()) {
        assertThat(names).contains(role.uri(), "localhost", "127.0.0.1");
      } else {
        assertThat(names).as("a client certificate names no host").containsExactly(role.uri());
      }
    }
    assertThat(sans(read(dir.resolve("expert.crt"))))
        .contains("*.arrakis-expert")
        .doesNotContain("arrakis-router");
  }

  @Test
  void aRouterCallsOnlyServersWithAnExpertCertificate() throws Exception {
    SslContext router = TlsFiles.in(dir, Role.ROUTER).client(Role.EXPERT);
    assertThat(check(serveAs(Role.EXPERT, dir), router, null)).isEqualTo(ServingStatus.SERVING);

    // a valid server certificate of the CA, but a router's: not an expert node
    assertHandshakeFails(serveAs(Role.ROUTER, dir), router);
    // the tools' client key cannot pose as an expert server: no server usage, no expert role
    int posing = serveAs(Role.CLIENT, dir);
    assertHandshakeFails(posing, router);
    assertHandshakeFails(
        posing, GrpcSslContexts.forClient().trustManager(dir.resolve("ca.crt").toFile()).build());
    assertHandshakeFails(serveAs(Role.ADMIN, dir), router);
    // an expert certificate of another CA
    Path other = dir.resolve("other");
    LocalCertificateAuthority rogue = LocalCertificateAuthority.create("rogue", Duration.ofDays(1));
    rogue.write(other, List.of(rogue.issue(Role.EXPERT, List.of("localhost", "127.0.0.1"))));
    assertHandshakeFails(serveAs(Role.EXPERT, other), router);
  }

  @Test
  void aServerCertificateCannotCallAServerAskingForClientCertificates() throws Exception {
    int expert = serve(TlsFiles.in(dir, Role.EXPERT).server(true));
    assertThat(check(expert, TlsFiles.in(dir, Role.ROUTER).client(), null))
        .isEqualTo(ServingStatus.SERVING);
    // the expert certificate has server usage only
    assertHandshakeFails(expert, TlsFiles.in(dir, Role.EXPERT).client());
  }

  @Test
  void aNodeGivenAnotherRolesCertificateSaysSoAtStart() throws Exception {
    Path mixed = Files.createDirectories(dir.resolve("mixed"));
    Files.copy(dir.resolve("ca.crt"), mixed.resolve("ca.crt"));
    Files.copy(dir.resolve("client.crt"), mixed.resolve("expert.crt"));
    Files.copy(dir.resolve("client.key"), mixed.resolve("expert.key"));
    assertThat(TlsFiles.in(dir, Role.EXPERT).checkRole(Role.EXPERT)).isNotNull();
    assertThatThrownBy(() -> TlsFiles.in(mixed, Role.EXPERT).checkRole(Role.EXPERT))
        .hasMessageContaining("expert.crt is a client certificate, not an expert certificate")
        .hasMessageContaining("./arrakis certs --out");
  }

  @Test
  void expertPodNamesMatchTheWildcardAndOtherNamesDoNot() throws Exception {
    int expert = serveAs(Role.EXPERT, dir);
    SslContext router = TlsFiles.in(dir, Role.ROUTER).client(Role.EXPERT);
    assertThat(check(expert, router, "arrakis-expert-0.arrakis-expert:50061"))
        .isEqualTo(ServingStatus.SERVING);
    assertThatThrownBy(() -> check(expert, router, "expert.example.org:50061"))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
  }
}
