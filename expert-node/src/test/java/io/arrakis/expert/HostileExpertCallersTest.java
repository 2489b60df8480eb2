package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.arrakis.security.cli.CertsMain;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An expert node process serving TLS with certificates from {@code arrakis certs}: routers (router
 * certificate) may compute, describe, load and unload; the tools' client certificate and an admin
 * certificate of the same CA are refused with PERMISSION_DENIED on every Expert call and change
 * nothing; no certificate at all does not get through the handshake. Health stays open, and also
 * answers in plaintext on the health port for the kubelet.
 */
class HostileExpertCallersTest {
  private static final ExpertId HELD = new ExpertId(0, 0);

  @Test
  void onlyRouterCertificatesMayCallTheExpertService(@TempDir Path work) throws Exception {
    Path certs = work.resolve("certs");
    assertThat(CertsMain.execute("--out", certs.toString())).isZero();
    int healthPort;
    try (ServerSocket s = new ServerSocket(0)) {
      healthPort = s.getLocalPort();
    }
    Path nodeDir = Files.createDirectories(work.resolve("node"));
    try (NodeProcess node =
        NodeProcess.start(
            nodeDir,
            List.of(),
            "--model",
            Fixtures.dir(Fixtures.MIXTRAL_TINY).toString(),
            "--experts",
            "0:0-1",
            "--threads",
            "1",
            "--tls-dir",
            certs.toString(),
            "--health-port",
            String.valueOf(healthPort))) {
      SslContext router = TlsFiles.in(certs, Role.ROUTER).client(Role.EXPERT);
      for (Role intruder : List.of(Role.CLIENT, Role.ADMIN)) {
        SslContext tls = TlsFiles.in(certs, intruder).client();
        for (Function<ExpertGrpc.ExpertBlockingStub, Object> call :
            List.<Function<ExpertGrpc.ExpertBlockingStub, Object>>of(
                s -> s.compute(compute()),
                s -> s.describe(DescribeRequest.getDefaultInstance()),
                s ->
                    s.loadExperts(
                        LoadExpertsRequest.newBuilder()
                            .addExperts(new ExpertId(1, 7).toProto())
                            .build()),
                s ->
                    s.unloadExperts(
                        UnloadExpertsRequest.newBuilder().addExperts(HELD.toProto()).build()))) {
          assertThatThrownBy(() -> onNode(node.port, tls, call))
              .isInstanceOfSatisfying(
                  StatusRuntimeException.class,
                  e -> {
                    assertThat(e.getStatus().getCode())
                        .as("%s: %s", intruder, e.getStatus())
                        .isEqualTo(Status.Code.PERMISSION_DENIED);
                    assertThat(e.getStatus().getDescription())
                        .isEqualTo(
                            "the Expert service takes a router certificate (mutual TLS); "
                                + "this call came with "
                                + (intruder == Role.ADMIN ? "an admin" : "a client")
                                + " certificate");
                  });
        }
        // health is for probes, whatever the certificate
        assertThat(health(NettyChannelBuilder.forAddress("127.0.0.1", node.port).sslContext(tls)))
            .isEqualTo(ServingStatus.SERVING);
      }
      // the refused load and unload changed nothing; a router may do what they could not
      int held =
          onNode(
              node.port,
              router,
              s -> s.describe(DescribeRequest.getDefaultInstance()).getExpertsCount());
      assertThat(held).isEqualTo(2);
      List<Long> shape =
          onNode(node.port, router, s -> s.compute(compute()).getPartialSums().getShapeList());
      assertThat(shape).containsExactly(1L, 64L);
      int loaded =
          onNode(
              node.port,
              router,
              s ->
                  s.loadExperts(
                          LoadExpertsRequest.newBuilder()
                              .addExperts(new ExpertId(1, 7).toProto())
                              .build())
                      .getExpertsCount());
      assertThat(loaded).isEqualTo(3);
      int unloaded =
          onNode(
              node.port,
              router,
              s ->
                  s.unloadExperts(
                          UnloadExpertsRequest.newBuilder()
                              .addExperts(new ExpertId(1, 7).toProto())
                              .build())
                      .getExpertsCount());
      assertThat(unloaded).isEqualTo(2);

      // without a certificate there is no TLS session at all
      SslContext none =
          GrpcSslContexts.forClient().trustManager(certs.resolve("ca.crt").toFile()).build();
      assertThatThrownBy(
              () -> onNode(node.port, none, s -> s.describe(DescribeRequest.getDefaultInstance())))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
      // the kubelet's plaintext probe port answers health, and nothing else
      assertThat(health(NettyChannelBuilder.forAddress("127.0.0.1", healthPort).usePlaintext()))
          .isEqualTo(ServingStatus.SERVING);
      ManagedChannel plain =
          NettyChannelBuilder.forAddress("127.0.0.1", healthPort).usePlaintext().build();
      try {
        assertThatThrownBy(
                () ->
                    ExpertGrpc.newBlockingStub(plain)
                        .withDeadlineAfter(5, TimeUnit.SECONDS)
                        .describe(DescribeRequest.getDefaultInstance()))
            .isInstanceOfSatisfying(
                StatusRuntimeException.class,
                e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED));
      } finally {
        plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** One token for the held expert 0:0. */
  private static ComputeRequest compute() {
    float[] x = new float[64];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(i);
    }
    return ComputeRequest.newBuilder()
        .setBatchId("hostile")
        .setHiddenStates(TensorCodec.encodeFloat(x, 1, 64))
        .addAssignments(
            Assignment.newBuilder()
                .setLayer(HELD.layer())
                .setExpert(HELD.expert())
                .addRows(0)
                .addWeights(1f))
        .build();
  }

  private static <T> T onNode(
      int port, SslContext tls, Function<ExpertGrpc.ExpertBlockingStub, T> call)
      throws InterruptedException {
    ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(tls).build();
    try {
      return call.apply(ExpertGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS));
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static ServingStatus health(NettyChannelBuilder b) throws InterruptedException {
    ManagedChannel ch = b.build();
    try {
      return HealthGrpc.newBlockingStub(ch)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .check(HealthCheckRequest.getDefaultInstance())
          .getStatus();
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
