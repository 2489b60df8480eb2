package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.loadtest.placement.RouterAdmin;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementVersions;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.GetClusterLoadRequest;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.LoadExpertsResponse;
import io.arrakis.security.ClientSecurity;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Forbidden calls against a real local cluster (a router and three expert processes) serving TLS
 * with its own CA, a public token and an admin token: the admin Cluster service refuses every
 * credential but the admin's (UNAUTHENTICATED without one, PERMISSION_DENIED with one that is not
 * the admin's), the public API refuses the admin token, a placement version that would block later
 * rollouts is refused, a placement pointing at a server that is not an expert node (a valid server
 * certificate of the CA, of another role) fails before a byte reaches it, and an expert node
 * refuses the tools' client certificate. Each allowed path works.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class HostileAdminCallsTest {
  private static LocalCluster cluster;
  private static Path tls;
  private static Path publicToken;
  private static Path adminToken;
  private static final List<ManagedChannel> CHANNELS = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    Path state = Path.of("target", "hostile-admin").toAbsolutePath();
    Files.createDirectories(state);
    publicToken = Files.writeString(state.resolve("public-token"), "p-" + System.nanoTime() + "\n");
    ClusterOptions o =
        TestClusters.options(
                Fixtures.MIXTRAL_TINY, TestClusters.Layout.CONTIGUOUS, state.resolve("state"))
            .withSecurity(ClusterSecurity.tls(null).withAuthTokenFile(publicToken));
    cluster = LocalCluster.start(o);
    tls = cluster.security().tlsDir();
    adminToken = cluster.security().adminTokenFile();
  }

  @AfterAll
  static void stop() throws Exception {
    for (ManagedChannel c : CHANNELS) {
      c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (cluster != null) {
      cluster.stop();
    }
  }

  private static ClientSecurity trustOnly() {
    return new ClientSecurity(tls.resolve("ca.crt"), null, null, null);
  }

  private static ClientSecurity cert(Role role) throws Exception {
    return ClientSecurity.of(TlsFiles.in(tls, role));
  }

  /** Every Cluster call with {@code security}: each must fail with {@code code}. */
  private static void assertAdminRefused(ClientSecurity security, Status.Code code, String says)
      throws Exception {
    Placement current = admin(cert(Role.ADMIN)).placement();
    List<Consumer<ClusterGrpc.ClusterBlockingStub>> calls =
        List.of(
            s -> s.getPlacement(GetPlacementRequest.getDefaultInstance()),
            s ->
                s.setPlacement(
                    RouterAdmin.toProto(new Placement(current.version() + 1, current.nodes()))),
            s -> s.getLoadStats(GetLoadStatsRequest.getDefaultInstance()),
            s -> s.getClusterLoad(GetClusterLoadRequest.getDefaultInstance()));
    ManagedChannel ch = security.channelBuilder(cluster.routerAddress()).build();
    try {
      for (Consumer<ClusterGrpc.ClusterBlockingStub> call : calls) {
        assertThatThrownBy(
                () ->
                    call.accept(
                        ClusterGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)))
            .isInstanceOfSatisfying(
                StatusRuntimeException.class,
                e -> {
                  assertThat(e.getStatus().getCode()).as("%s", e.getStatus()).isEqualTo(code);
                  assertThat(e.getStatus().getDescription()).contains(says);
                });
      }
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    assertThat(admin(cert(Role.ADMIN)).placement().version())
        .as("the refused SetPlacement changed nothing")
        .isEqualTo(current.version());
  }

  private static RouterAdmin admin(ClientSecurity security) throws Exception {
    ManagedChannel ch = RouterAdmin.connect(cluster.routerAddress(), security);
    CHANNELS.add(ch);
    return new RouterAdmin(ch, cluster.routerAddress(), security);
  }

  @Test
  void theAdminServiceTakesOnlyTheAdminTokenOrAnAdminCertificate() throws Exception {
    String takes =
        "the admin Cluster service takes the admin token ('authorization: Bearer <token>') or an admin certificate";
    assertAdminRefused(trustOnly(), Status.Code.UNAUTHENTICATED, "missing credentials: " + takes);
    assertAdminRefused(
        new ClientSecurity(tls.resolve("ca.crt"), null, null, null, publicToken),
        Status.Code.PERMISSION_DENIED,
        "this call came with the public token");
    Path guess = Files.writeString(tls.getParent().resolve("guess"), "guess");
    assertAdminRefused(
        trustOnly().withAdminTokenFile(guess), Status.Code.UNAUTHENTICATED, "invalid bearer token");
    assertAdminRefused(
        cert(Role.CLIENT).withAdminTokenFile(publicToken),
        Status.Code.PERMISSION_DENIED,
        "this call came with the public token");
    assertAdminRefused(
        cert(Role.CLIENT),
        Status.Code.PERMISSION_DENIED,
        "this call came with a client certificate");
    assertAdminRefused(
        cert(Role.ROUTER),
        Status.Code.PERMISSION_DENIED,
        "this call came with a router certificate");

    long version = admin(cert(Role.ADMIN)).placement().version();
    assertThat(admin(trustOnly().withAdminTokenFile(adminToken)).placement().version())
        .isEqualTo(version);
    assertThat(admin(cert(Role.ADMIN)).loadStats(0).getUntilUnixMs()).isPositive();
  }

  @Test
  void thePublicApiTakesThePublicTokenOrAClientCertificateButNotTheAdminToken() throws Exception {
    assertThat(model(trustOnly().withTokenFile(publicToken))).isEqualTo(64);
    assertThat(model(cert(Role.CLIENT))).isEqualTo(64);
    assertThatThrownBy(() -> model(trustOnly()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED));
    assertThatThrownBy(() -> model(trustOnly().withTokenFile(adminToken)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
              assertThat(e.getStatus().getDescription())
                  .contains("this call came with the admin token");
            });
  }

  private static int model(ClientSecurity security) throws Exception {
    ManagedChannel ch = security.channelBuilder(cluster.routerAddress()).build();
    try {
      return InferenceGrpc.newBlockingStub(ch)
          .withDeadlineAfter(30, TimeUnit.SECONDS)
          .getModel(GetModelRequest.getDefaultInstance())
          .getHiddenSize();
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void aPlacementVersionThatWouldBlockLaterRolloutsIsRefused() throws Exception {
    RouterAdmin admin = admin(cluster.security().routerClient());
    Placement current = admin.placement();
    assertThatThrownBy(() -> admin.setPlacement(new Placement(Long.MAX_VALUE, current.nodes())))
        .hasMessageContaining("out of range");
    ManagedChannel ch =
        cluster.security().routerClient().channelBuilder(cluster.routerAddress()).build();
    try {
      // the wire carries any int64; the router refuses it before it becomes a placement
      assertThatThrownBy(
              () ->
                  ClusterGrpc.newBlockingStub(ch)
                      .withDeadlineAfter(30, TimeUnit.SECONDS)
                      .setPlacement(
                          RouterAdmin.toProto(current).toBuilder()
                              .setVersion(Long.MAX_VALUE)
                              .build()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(e.getStatus().getDescription())
                    .contains("placement version 9223372036854775807 is out of range");
              });
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    long tooFar = current.version() + PlacementVersions.MAX_STEP + 1;
    assertThatThrownBy(() -> admin.setPlacement(new Placement(tooFar, current.nodes())))
        .hasMessageContaining("FAILED_PRECONDITION")
        .hasMessageContaining("more than 4294967296 (2^32) ahead");
    // later rollouts are not blocked: the largest allowed step works
    long next = current.version() + PlacementVersions.MAX_STEP;
    assertThat(admin.setPlacement(new Placement(next, current.nodes())).getVersion())
        .isEqualTo(next);
    assertThat(admin.placement().version()).isEqualTo(next);
  }

  @Test
  void aPlacementPointingAtAServerThatIsNotAnExpertNodeFailsBeforeAnyCallReachesIt()
      throws Exception {
    AtomicInteger reached = new AtomicInteger();
    // a valid server certificate of the cluster's CA, but a router's: what a stolen or misused key
    // would give
    Server impostor =
        NettyServerBuilder.forAddress(new InetSocketAddress(LocalCluster.HOST, 0))
            .sslContext(TlsFiles.in(tls, Role.ROUTER).server(false))
            .addService(
                new ExpertGrpc.ExpertImplBase() {
                  @Override
                  public void loadExperts(
                      LoadExpertsRequest request, StreamObserver<LoadExpertsResponse> out) {
                    reached.incrementAndGet();
                    out.onNext(
                        LoadExpertsResponse.newBuilder()
                            .addAllExperts(request.getExpertsList())
                            .build());
                    out.onCompleted();
                  }
                })
            .build()
            .start();
    try {
      RouterAdmin admin = admin(cluster.security().routerClient());
      Placement current = admin.placement();
      List<Placement.Node> nodes = new ArrayList<>(current.nodes());
      Placement.Node victim = nodes.get(0);
      nodes.set(
          0,
          new Placement.Node(
              "impostor", LocalCluster.HOST + ":" + impostor.getPort(), victim.experts()));
      nodes.add(victim);
      assertThatThrownBy(() -> admin.setPlacement(new Placement(current.version() + 1, nodes)))
          .hasMessageContaining("UNAVAILABLE")
          .hasMessageContaining("impostor could not load");
      assertThat(reached.get()).as("calls that reached the impostor").isZero();
      assertThat(admin.placement().version()).isEqualTo(current.version());

      // the cluster serves on as before
      ManagedChannel ch =
          cluster.security().routerClient().channelBuilder(cluster.routerAddress()).build();
      try {
        float[] x = new float[3 * 64];
        for (int i = 0; i < x.length; i++) {
          x[i] = (float) Math.cos(i * 0.3);
        }
        assertThat(
                InferenceGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(60, TimeUnit.SECONDS)
                    .forward(
                        ForwardRequest.newBuilder()
                            .setRequestId("after")
                            .setLayer(0)
                            .setHiddenStates(TensorCodec.encodeFloat(x, 3, 64))
                            .build())
                    .getRequestId())
            .isEqualTo("after");
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    } finally {
      impostor.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void anExpertNodeRefusesTheToolsClientCertificate() throws Exception {
    Member node = cluster.state().experts().get(0);
    ManagedChannel ch = cert(Role.CLIENT).channelBuilder(node.address()).build();
    try {
      ComputeRequest compute =
          ComputeRequest.newBuilder()
              .setBatchId("hostile")
              .setHiddenStates(TensorCodec.encodeFloat(new float[64], 1, 64))
              .addAssignments(
                  Assignment.newBuilder()
                      .setLayer(node.experts().get(0).layer())
                      .setExpert(node.experts().get(0).expert())
                      .addRows(0)
                      .addWeights(1f))
              .build();
      assertThatThrownBy(
              () ->
                  ExpertGrpc.newBlockingStub(ch)
                      .withDeadlineAfter(30, TimeUnit.SECONDS)
                      .compute(compute))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                assertThat(e.getStatus().getDescription()).contains("takes a router certificate");
              });
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
