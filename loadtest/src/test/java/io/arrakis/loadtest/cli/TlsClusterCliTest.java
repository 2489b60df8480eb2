package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.loadtest.cluster.ClusterSecurity;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ReferenceCheck;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.security.ClientSecurity;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code up --tls --auth-token-file} on real processes: the cluster makes its own CA, serves TLS
 * everywhere (mutual TLS to the expert nodes), and records it, so that {@code status}, {@code
 * loadtest} and {@code placement} reach it without flags; clients lacking TLS, a client certificate
 * or the token are turned away.
 */
class TlsClusterCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path MODEL = Fixtures.dir(Fixtures.MIXTRAL_TINY);

  @TempDir Path tmp;

  @AfterEach
  void cleanUp() {
    CliRun.of("down", "--state-dir", tmp.resolve("state").toString(), "--grace", "2s");
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void aTlsClusterServesLoadAndTurnsAwayClientsWithoutItsCredentials() throws Exception {
    Path state = tmp.resolve("state");
    Path tlsDir = state.resolve("tls");
    Path token = Files.writeString(tmp.resolve("token"), "local-s3cret\n");
    CliRun up =
        CliRun.of(
            "up",
            "--tls",
            "--auth-token-file",
            token.toString(),
            "--model",
            MODEL.toString(),
            "--nodes",
            "2",
            "--port",
            "0",
            "--http-port",
            "0",
            "--threads",
            "1",
            "--java-opts",
            String.join(" ", TestClusters.JVM_OPTIONS),
            "--state-dir",
            state.toString());
    assertThat(up.code()).as("%s", up).isZero();
    assertThat(up.out())
        .contains(
            "security   TLS (certificates in " + tlsDir + "), router bearer token from " + token);
    assertThat(up.err()).doesNotContain("warning");
    assertThat(tlsDir.resolve("ca.crt")).isRegularFile();

    JsonNode status =
        JSON.readTree(CliRun.of("status", "--json", "--state-dir", state.toString()).out());
    assertThat(status.path("serving").asBoolean()).as("%s", status).isTrue();
    assertThat(status.path("tls").asBoolean()).isTrue();
    assertThat(status.path("tls_dir").asText()).isEqualTo(tlsDir.toString());
    assertThat(CliRun.of("status", "--state-dir", state.toString()).out())
        .contains("security   TLS", "serving");
    String router = "127.0.0.1:" + status.path("router").path("port").asInt();
    int expertPort = status.path("experts").get(0).path("port").asInt();

    // TLS and the tokens from the state file (the admin token for the router's load at the end)
    Path report = tmp.resolve("report.json");
    CliRun load =
        CliRun.of(
            "loadtest",
            "--state-dir",
            state.toString(),
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--concurrency",
            "4",
            "--tokens",
            "1-8",
            "--json",
            report.toString());
    assertThat(load.code()).as("%s", load).isZero();
    JsonNode r = JSON.readTree(Files.readString(report));
    assertThat(r.path("target").asText()).isEqualTo(router);
    assertThat(r.path("sent").asLong()).isPositive().isEqualTo(r.path("ok").asLong());
    assertThat(r.path("failed").asLong()).isZero();
    assertThat(r.path("unanswered").asLong()).isZero();
    assertThat(r.path("imbalance").isNumber())
        .as("the router's load, from its admin service: %s", r)
        .isTrue();

    LocalCluster cluster = LocalCluster.attach(state, Duration.ofSeconds(2)).orElseThrow();
    ClusterSecurity security = cluster.security();
    // the HTTP API: TLS of the cluster's CA; the public token or a client certificate, as for gRPC
    int httpPort = status.path("router").path("http_port").asInt();
    assertThat(cluster.routerHttpUrl()).contains("https://127.0.0.1:" + httpPort);
    String models = "https://127.0.0.1:" + httpPort + "/v1/models";
    SSLContext trustOnly = TlsFiles.trustingOnly(tlsDir.resolve("ca.crt"));
    assertThat(https(trustOnly, models, null).statusCode()).isEqualTo(401);
    assertThat(https(trustOnly, models, "local-s3cret").statusCode()).isEqualTo(200);
    assertThat(https(TlsFiles.in(tlsDir, Role.CLIENT).jdkContext(), models, null).statusCode())
        .isEqualTo(200);
    assertThat(https(trustOnly, "https://127.0.0.1:" + httpPort + "/health", null).statusCode())
        .isEqualTo(200);
    // the serving load test's HTTP client, over https with the cluster's CA and the token from the
    // state folder: past TLS and the token, this layer-only model's router answers 501 to each
    CliRun serve =
        CliRun.of(
            "loadtest",
            "serve",
            "--state-dir",
            state.toString(),
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--max-concurrency",
            "2",
            "--input-len",
            "4",
            "--output-len",
            "2",
            "--vocab",
            "32");
    assertThat(serve.code()).as("%s", serve).isEqualTo(1);
    assertThat(serve.err())
        .contains("no request succeeded", "HTTP 501")
        .doesNotContain("CONNECTION");
    ManagedChannel tls = security.routerClient().channelBuilder(router).build();
    try {
      ReferenceCheck.Result check = ReferenceCheck.run(tls, MODEL, 8, null, 7);
      assertThat(check.requests()).isEqualTo(2);
      assertThat(check.maxRelativeError()).isLessThanOrEqualTo(ReferenceCheck.TOLERANCE);
      assertThat(check.idMismatches()).isZero();
    } finally {
      tls.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    // another state folder: nothing is taken from this cluster's state file
    String elsewhere = tmp.resolve("no-cluster").toString();
    assertRefused(router, ClientSecurity.PLAINTEXT.withTokenFile(token), Status.Code.UNAVAILABLE);
    CliRun plaintext =
        CliRun.of("loadtest", "--target", router, "--state-dir", elsewhere, "--duration", "1s");
    assertThat(plaintext.code()).isEqualTo(1);
    assertThat(plaintext.err())
        .startsWith("error: cannot reach the router at " + router + " (GetModel: UNAVAILABLE")
        .contains("if the router serves TLS, give --tls-ca FILE");
    Path ca = tlsDir.resolve("ca.crt");
    assertRefused(router, new ClientSecurity(ca, null, null, null), Status.Code.UNAUTHENTICATED);
    // the admin Cluster service wants the admin token, which only the state folder holds
    Path adminToken = security.adminTokenFile();
    assertThat(adminToken).isEqualTo(state.resolve("admin-token")).isRegularFile();
    assertThat(status.path("admin_token_file").asText()).isEqualTo(adminToken.toString());
    CliRun noToken =
        CliRun.of(
            "placement",
            "export-loads",
            "--target",
            router,
            "--state-dir",
            elsewhere,
            "--tls-ca",
            ca.toString(),
            "--output",
            tmp.resolve("loads.json").toString());
    assertThat(noToken.code()).isEqualTo(1);
    assertThat(noToken.err())
        .contains("UNAUTHENTICATED", "give --admin-token-file FILE")
        .hasLineCount(1);
    CliRun publicToken =
        CliRun.of(
            "placement",
            "export-loads",
            "--target",
            router,
            "--state-dir",
            elsewhere,
            "--tls-ca",
            ca.toString(),
            "--auth-token-file",
            token.toString(),
            "--output",
            tmp.resolve("loads.json").toString());
    // the public token goes on public calls only, so the Cluster call carries none
    assertThat(publicToken.code()).isEqualTo(1);
    assertThat(publicToken.err())
        .contains("UNAUTHENTICATED", "give --admin-token-file FILE")
        .hasLineCount(1);
    CliRun export =
        CliRun.of(
            "placement",
            "export-loads",
            "--target",
            router,
            "--state-dir",
            elsewhere,
            "--tls-ca",
            ca.toString(),
            "--admin-token-file",
            adminToken.toString(),
            "--output",
            tmp.resolve("loads.json").toString());
    assertThat(export.code()).as("%s", export).isZero();
    // or an admin certificate instead of the token
    CliRun byCertificate =
        CliRun.of(
            "placement",
            "export-loads",
            "--target",
            router,
            "--state-dir",
            elsewhere,
            "--tls-ca",
            ca.toString(),
            "--tls-cert",
            tlsDir.resolve("admin.crt").toString(),
            "--tls-key",
            tlsDir.resolve("admin.key").toString(),
            "--output",
            tmp.resolve("loads-2.json").toString());
    assertThat(byCertificate.code()).as("%s", byCertificate).isZero();

    // an expert node takes only callers with a certificate of the cluster's CA
    String expert = "127.0.0.1:" + expertPort;
    assertThat(health(expert, security.nodeClient())).isEqualTo(ServingStatus.SERVING);
    assertThatThrownBy(() -> health(expert, new ClientSecurity(ca, null, null, null)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

    CliRun down = CliRun.of("down", "--state-dir", state.toString());
    assertThat(down.out()).as("%s", down).startsWith("stopped 3 of 3 processes");
    assertThat(tlsDir).as("the cluster's own CA goes with it").doesNotExist();
    assertThat(adminToken).as("and its admin token").doesNotExist();
  }

  private static HttpResponse<String> https(SSLContext tls, String url, String token)
      throws Exception {
    HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(20));
    if (token != null) {
      r.header("Authorization", "Bearer " + token);
    }
    return HttpClient.newBuilder()
        .sslContext(tls)
        .build()
        .send(r.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static void assertRefused(String router, ClientSecurity security, Status.Code code)
      throws Exception {
    ManagedChannel channel = security.channelBuilder(router).build();
    try {
      assertThatThrownBy(
              () ->
                  InferenceGrpc.newBlockingStub(channel)
                      .withDeadlineAfter(10, TimeUnit.SECONDS)
                      .getModel(GetModelRequest.getDefaultInstance()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(code));
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static ServingStatus health(String target, ClientSecurity security) throws Exception {
    ManagedChannel channel = security.channelBuilder(target).build();
    try {
      return HealthGrpc.newBlockingStub(channel)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance())
          .getStatus();
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
