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
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutual TLS with certificates from {@code arrakis certs}, over loopback Netty. */
class MutualTlsTest {
  @TempDir Path dir;
  Server server;

  @AfterEach
  void stop() throws InterruptedException {
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  int serve(SslContext ctx) throws Exception {
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .sslContext(ctx)
            .addService(health.getHealthService())
            .build()
            .start();
    return server.getPort();
  }

  static ServingStatus check(int port, SslContext client) throws InterruptedException {
    ManagedChannel ch =
        NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(client).build();
    try {
      return HealthGrpc.newBlockingStub(ch)
          .withDeadlineAfter(5, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance())
          .getStatus();
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void aNodeWithAClusterCertificateGetsInAndOneWithoutDoesNot() throws Exception {
    assertThat(CertsMainRun.run("--out", dir.toString())).isZero();
    int port = serve(TlsFiles.in(dir, "expert").server(true));

    assertThat(check(port, TlsFiles.in(dir, "router").client())).isEqualTo(ServingStatus.SERVING);

    SslContext noCert =
        GrpcSslContexts.forClient().trustManager(dir.resolve("ca.crt").toFile()).build();
    assertThatThrownBy(() -> check(port, noCert))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

    // a certificate from another CA is refused too
    Path other = dir.resolve("other");
    LocalCertificateAuthority rogue = LocalCertificateAuthority.create("rogue", Duration.ofDays(1));
    rogue.write(other, List.of(rogue.issue(Role.ROUTER, List.of("localhost", "127.0.0.1"))));
    SslContext rogueClient =
        GrpcSslContexts.forClient()
            .trustManager(dir.resolve("ca.crt").toFile())
            .keyManager(other.resolve("router.crt").toFile(), other.resolve("router.key").toFile())
            .build();
    assertThatThrownBy(() -> check(port, rogueClient)).isInstanceOf(StatusRuntimeException.class);
  }

  @Test
  void certsRefusesToOverwriteACaWithoutForce() {
    assertThat(CertsMainRun.run("--out", dir.toString())).isZero();
    assertThat(CertsMainRun.run("--out", dir.toString())).isEqualTo(1);
    assertThat(CertsMainRun.run("--out", dir.toString(), "--force")).isZero();
  }

  @Test
  void plaintextIsAllowedOnLoopbackOnlyUnlessAskedFor() {
    assertThat(Transport.checkPlaintext("127.0.0.1", false)).contains("local development");
    assertThatThrownBy(() -> Transport.checkPlaintext("0.0.0.0", false))
        .hasMessageContaining("--tls-dir");
    assertThat(Transport.checkPlaintext("0.0.0.0", true)).contains("plaintext");
  }

  static final class CertsMainRun {
    static int run(String... args) {
      return CertsMain.execute(args);
    }
  }
}
