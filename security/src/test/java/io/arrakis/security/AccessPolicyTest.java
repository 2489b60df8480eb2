package io.arrakis.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.security.AccessPolicy.Rule;
import io.arrakis.security.cli.CertsMain;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
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
 * A server shaped like a router over loopback TLS, with certificates from {@code arrakis certs}: a
 * public echo service that takes the public token or a client certificate, and an admin one ({@code
 * arrakis.v1.Cluster}) that takes the admin token or an admin certificate. Each credential opens
 * exactly its own door; health stays open.
 */
class AccessPolicyTest {
  static final MethodDescriptor.Marshaller<String> TEXT =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(String value) {
          return new ByteArrayInputStream(value.getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public String parse(InputStream stream) {
          try {
            return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new IllegalStateException(e);
          }
        }
      };
  static final MethodDescriptor<String, String> ECHO = echo("test.Echo");
  static final MethodDescriptor<String, String> ADMIN_ECHO = echo(ClientSecurity.ADMIN_SERVICE);

  @TempDir Path dir;
  Server server;
  String target;
  Path publicToken;
  Path adminToken;

  static MethodDescriptor<String, String> echo(String service) {
    return MethodDescriptor.<String, String>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(service + "/Echo")
        .setRequestMarshaller(TEXT)
        .setResponseMarshaller(TEXT)
        .build();
  }

  static ServerServiceDefinition echoService(MethodDescriptor<String, String> m) {
    return ServerServiceDefinition.builder(m.getServiceName())
        .addMethod(
            m,
            ServerCalls.asyncUnaryCall(
                (req, out) -> {
                  out.onNext(req);
                  out.onCompleted();
                }))
        .build();
  }

  @BeforeEach
  void start() throws Exception {
    assertThat(CertsMain.execute("--out", dir.toString(), "--tokens")).isZero();
    publicToken = dir.resolve("public-token");
    adminToken = dir.resolve("admin-token");
    AccessPolicy policy =
        AccessPolicy.of(
            Map.of(
                ClientSecurity.ADMIN_SERVICE,
                Rule.anyOf(
                    "the admin Cluster service",
                    List.of(
                        AccessPolicy.token("admin", ClientSecurity.readToken(adminToken)),
                        AccessPolicy.certificate(Role.ADMIN)),
                    "no admin credential")),
            Rule.anyOf(
                "the public API",
                List.of(
                    AccessPolicy.token("public", ClientSecurity.readToken(publicToken)),
                    AccessPolicy.certificate(Role.CLIENT)),
                "unused"));
    HealthStatusManager health = new HealthStatusManager();
    health.setStatus("", ServingStatus.SERVING);
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .sslContext(TlsFiles.in(dir, Role.ROUTER).server(false))
            .addService(echoService(ECHO))
            .addService(echoService(ADMIN_ECHO))
            .addService(health.getHealthService())
            .intercept(policy)
            .build()
            .start();
    target = "127.0.0.1:" + server.getPort();
  }

  @AfterEach
  void stop() throws InterruptedException {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  ClientSecurity trustOnly() {
    return new ClientSecurity(dir.resolve("ca.crt"), null, null, null);
  }

  ClientSecurity withCert(Role role) throws IOException {
    return ClientSecurity.of(TlsFiles.in(dir, role));
  }

  String call(ClientSecurity security, MethodDescriptor<String, String> method) throws Exception {
    ManagedChannel ch = security.channelBuilder(target).build();
    try {
      return ClientCalls.blockingUnaryCall(
          ch, method, CallOptions.DEFAULT.withDeadlineAfter(5, TimeUnit.SECONDS), "hi");
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  void assertRefused(
      ClientSecurity security,
      MethodDescriptor<String, String> method,
      Status.Code code,
      String... says) {
    assertThatThrownBy(() -> call(security, method))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).as("%s", e.getStatus()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(says);
            });
  }

  @Test
  void thePublicTokenOrAClientCertificateOpensThePublicApiOnly() throws Exception {
    assertThat(call(trustOnly().withTokenFile(publicToken), ECHO)).isEqualTo("hi");
    assertThat(call(withCert(Role.CLIENT), ECHO)).isEqualTo("hi");

    assertRefused(
        trustOnly().withTokenFile(publicToken),
        ADMIN_ECHO,
        Status.Code.UNAUTHENTICATED,
        "the admin Cluster service takes the admin token",
        "or an admin certificate");
    // the public token sent to the admin service by hand: known, but not enough
    assertRefused(
        new ClientSecurity(dir.resolve("ca.crt"), null, null, null, publicToken),
        ADMIN_ECHO,
        Status.Code.PERMISSION_DENIED,
        "this call came with the public token");
    assertRefused(
        withCert(Role.CLIENT),
        ADMIN_ECHO,
        Status.Code.PERMISSION_DENIED,
        "this call came with a client certificate");
    assertRefused(
        withCert(Role.ROUTER), ADMIN_ECHO, Status.Code.PERMISSION_DENIED, "a router certificate");
  }

  @Test
  void theAdminTokenOrAnAdminCertificateOpensTheAdminService() throws Exception {
    assertThat(call(trustOnly().withAdminTokenFile(adminToken), ADMIN_ECHO)).isEqualTo("hi");
    assertThat(call(withCert(Role.ADMIN), ADMIN_ECHO)).isEqualTo("hi");
    // the admin token goes to the admin service only: a public call carries no token
    assertRefused(
        trustOnly().withAdminTokenFile(adminToken),
        ECHO,
        Status.Code.UNAUTHENTICATED,
        "missing credentials");
  }

  @Test
  void aMissingOrWrongTokenIsUnauthenticatedAndNeverEchoed() throws Exception {
    String admin = Files.readString(adminToken).strip();
    assertRefused(
        trustOnly(), ECHO, Status.Code.UNAUTHENTICATED, "missing credentials", "the public token");
    Path guess = Files.writeString(dir.resolve("guess"), "guess");
    assertThatThrownBy(
            () -> call(trustOnly().withTokenFile(guess).withAdminTokenFile(guess), ADMIN_ECHO))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
              assertThat(e.getStatus().getDescription())
                  .startsWith("invalid bearer token")
                  .doesNotContain("guess")
                  .doesNotContain(admin);
            });
  }

  @Test
  void healthNeedsNoCredential() throws Exception {
    ManagedChannel ch = trustOnly().channelBuilder(target).build();
    try {
      assertThat(
              HealthGrpc.newBlockingStub(ch)
                  .withDeadlineAfter(5, TimeUnit.SECONDS)
                  .check(HealthCheckRequest.getDefaultInstance())
                  .getStatus())
          .isEqualTo(ServingStatus.SERVING);
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void aServiceWithoutCredentialsIsOffAndSaysWhy() throws Exception {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(echoService(ADMIN_ECHO))
            .intercept(
                AccessPolicy.of(
                    Map.of(),
                    Rule.anyOf(
                        "the admin Cluster service",
                        List.of(),
                        "start the router with --admin-token-file FILE")))
            .build()
            .start();
    target = "127.0.0.1:" + server.getPort();
    assertRefused(
        ClientSecurity.PLAINTEXT.withAdminTokenFile(adminToken),
        ADMIN_ECHO,
        Status.Code.PERMISSION_DENIED,
        "the admin Cluster service is off on this server: start the router with --admin-token-file FILE");
  }
}
