package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.security.cli.CertsMain;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client's view of the cluster's transports over loopback Netty, with certificates from {@code
 * arrakis certs}: a router serves TLS to anyone trusting the CA and wants a token; an expert node
 * serves only callers with a cluster certificate.
 */
class ClientSecurityTest {
  @TempDir Path dir;
  Server server;
  Path token;

  @BeforeEach
  void certs() throws IOException {
    assertThat(CertsMain.execute("--out", dir.toString())).isZero();
    token = Files.writeString(dir.resolve("token"), "s3cret\n");
  }

  @AfterEach
  void stop() throws InterruptedException {
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** An echo service behind the bearer-token check, served with the given node's TLS. */
  String serve(String node, boolean requireClientCert) throws IOException {
    ServerServiceDefinition echo = AccessPolicyTest.echoService(AccessPolicyTest.ECHO);
    AccessPolicy tokenOnly =
        AccessPolicy.of(
            Map.of(),
            AccessPolicy.Rule.anyOf(
                "the echo service", List.of(AccessPolicy.token("public", "s3cret")), "unused"));
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .sslContext(TlsFiles.in(dir, node).server(requireClientCert))
            .addService(ServerInterceptors.intercept(echo, tokenOnly))
            .build()
            .start();
    return "127.0.0.1:" + server.getPort();
  }

  static String echo(String target, ClientSecurity security) throws Exception {
    ManagedChannel ch = security.channelBuilder(target).build();
    try {
      return ClientCalls.blockingUnaryCall(
          ch,
          AccessPolicyTest.ECHO,
          CallOptions.DEFAULT.withDeadlineAfter(5, TimeUnit.SECONDS),
          "hi");
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  static void assertRefused(String target, ClientSecurity security, Status.Code code) {
    assertThatThrownBy(() -> echo(target, security))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode()).isEqualTo(code));
  }

  @Test
  void aRouterServesTlsToClientsTrustingTheCaThatSendTheToken() throws Exception {
    String router = serve(TlsFiles.ROUTER, false);
    ClientSecurity trustOnly = new ClientSecurity(dir.resolve("ca.crt"), null, null, null);

    assertThat(echo(router, trustOnly.withTokenFile(token))).isEqualTo("hi");
    assertRefused(router, trustOnly, Status.Code.UNAUTHENTICATED);
    assertRefused(router, ClientSecurity.PLAINTEXT.withTokenFile(token), Status.Code.UNAVAILABLE);
  }

  @Test
  void anExpertNodeServesOnlyClientsWithAClusterCertificate() throws Exception {
    String expert = serve(TlsFiles.EXPERT, true);
    ClientSecurity client =
        ClientSecurity.of(TlsFiles.in(dir, TlsFiles.ROUTER)).withTokenFile(token);

    assertThat(echo(expert, client)).isEqualTo("hi");
    assertRefused(
        expert,
        new ClientSecurity(dir.resolve("ca.crt"), null, null, token),
        Status.Code.UNAVAILABLE);
  }

  @Test
  void badSettingsAreNamed() throws IOException {
    assertThatThrownBy(
            () -> new ClientSecurity(dir.resolve("ca.crt"), dir.resolve("client.crt"), null, null))
        .hasMessageContaining("--tls-key");
    assertThatThrownBy(
            () ->
                new ClientSecurity(
                    null, dir.resolve("client.crt"), dir.resolve("client.key"), null))
        .hasMessageContaining("--tls-ca");
    assertThatThrownBy(
            () ->
                new ClientSecurity(dir.resolve("nope.crt"), null, null, null).channelBuilder("h:1"))
        .hasMessageContaining("nope.crt");
    Path empty = Files.writeString(dir.resolve("empty"), " \n");
    assertThatThrownBy(() -> ClientSecurity.PLAINTEXT.withTokenFile(empty).channelBuilder("h:1"))
        .hasMessageContaining("is empty");
  }
}
