package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.arrakis.security.cli.CertsMain;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An expert node started with --tls-dir serves only callers holding a certificate of the cluster
 * CA.
 */
class MutualTlsNodeTest {
  @Test
  void aCallerWithoutAClusterCertificateCannotCallTheNode(@TempDir Path work) throws Exception {
    Path certs = work.resolve("certs");
    assertThat(CertsMain.execute("--out", certs.toString())).isZero();
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
            certs.toString())) {
      assertThat(describe(node.port, TlsFiles.in(certs, Role.ROUTER).client(Role.EXPERT)))
          .isEqualTo(2);

      SslContext noCert =
          GrpcSslContexts.forClient().trustManager(certs.resolve("ca.crt").toFile()).build();
      assertThatThrownBy(() -> describe(node.port, noCert))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));

      ManagedChannel plain =
          NettyChannelBuilder.forAddress("127.0.0.1", node.port).usePlaintext().build();
      try {
        assertThatThrownBy(
                () ->
                    ExpertGrpc.newBlockingStub(plain)
                        .withDeadlineAfter(5, TimeUnit.SECONDS)
                        .describe(DescribeRequest.getDefaultInstance()))
            .isInstanceOf(StatusRuntimeException.class);
      } finally {
        plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void plaintextOnANonLoopbackAddressIsRefusedUnlessAskedFor(@TempDir Path work) throws Exception {
    NodeProcess.Exited exited =
        NodeProcess.runToExit(
            work,
            "--model",
            Fixtures.dir(Fixtures.MIXTRAL_TINY).toString(),
            "--host",
            "0.0.0.0",
            "--port",
            "0");
    assertThat(exited.code()).isEqualTo(1);
    assertThat(exited.output())
        .contains("refusing plaintext gRPC on 0.0.0.0")
        .contains("--tls-dir");
  }

  static int describe(int port, SslContext tls) throws InterruptedException {
    ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(tls).build();
    try {
      return ExpertGrpc.newBlockingStub(ch)
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .describe(DescribeRequest.getDefaultInstance())
          .getExpertsCount();
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
