package io.arrakis.router.grpc;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ClusterLoad;
import io.arrakis.proto.v1.GetClusterLoadRequest;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.PlacementNode;
import io.arrakis.proto.v1.SetPlacementResponse;
import io.arrakis.router.cluster.ClusterLoadView;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.request.PlacementApplier;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.stats.LoadStats.Snapshot;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The admin {@code Cluster} service: the placement in use, switching to a new one (checked against
 * the model first), load since a point in time, and the cluster-wide load over the load window.
 */
public final class ClusterService extends ClusterGrpc.ClusterImplBase {
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

  private final ActorSystem<RouterGuardian.Command> system;
  private final PlacementApplier applier;
  private final RouterTelemetry telemetry;
  private final ClusterView cluster;

  /**
   * Where GetClusterLoad looks.
   *
   * @param view the router cluster's load as gossiped; null outside a cluster (this router reports
   *     itself)
   * @param window the load window of a router outside a cluster
   */
  public record ClusterView(String routerId, ClusterLoadView view, Duration window) {}

  public ClusterService(
      ActorSystem<RouterGuardian.Command> system,
      PlacementApplier applier,
      RouterTelemetry telemetry,
      ClusterView cluster) {
    this.system = system;
    this.applier = applier;
    this.telemetry = telemetry;
    this.cluster = cluster;
  }

  @Override
  public void getPlacement(
      GetPlacementRequest request, StreamObserver<io.arrakis.proto.v1.Placement> out) {
    UnaryReply.when(
        PekkoFutures.plain(
            AskPattern.<RouterGuardian.Command, Placement>ask(
                system, RouterGuardian.GetPlacement::new, ASK_TIMEOUT, system.scheduler())),
        out,
        ClusterService::toProto,
        ClusterService::noAnswer);
  }

  @Override
  public void setPlacement(
      io.arrakis.proto.v1.Placement request, StreamObserver<SetPlacementResponse> out) {
    Placement placement;
    try {
      placement = fromProto(request);
    } catch (IllegalArgumentException e) {
      out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
      return;
    }
    UnaryReply.when(
        applier.apply(placement),
        out,
        applied ->
            SetPlacementResponse.newBuilder()
                .setVersion(applied.version())
                .setExpertsLoaded(applied.loaded())
                .setExpertsUnloaded(applied.unloading())
                .build(),
        Status::fromThrowable);
  }

  /**
   * Sums up to 600 one-second buckets: off the transport thread, which other calls are waiting for.
   */
  @Override
  public void getLoadStats(GetLoadStatsRequest request, StreamObserver<LoadStats> out) {
    UnaryReply.when(
        CompletableFuture.supplyAsync(
            () -> telemetry.load().since(request.getSinceUnixMs()), system.executionContext()),
        out,
        ClusterService::loadStats,
        failure -> Status.INTERNAL.withDescription("load stats could not be summed: " + failure));
  }

  @Override
  public void getClusterLoad(GetClusterLoadRequest request, StreamObserver<ClusterLoad> out) {
    if (cluster.view() != null) {
      out.onNext(cluster.view().get());
      out.onCompleted();
      return;
    }
    UnaryReply.when(
        PekkoFutures.plain(
            AskPattern.<RouterGuardian.Command, RouterGuardian.Versions>ask(
                system, RouterGuardian.GetVersions::new, ASK_TIMEOUT, system.scheduler())),
        out,
        v ->
            ClusterLoadView.sum(
                cluster.window(),
                List.of(
                    ClusterLoadView.report(
                        cluster.routerId(),
                        "",
                        telemetry.load(),
                        cluster.window(),
                        v,
                        System.currentTimeMillis()))),
        ClusterService::noAnswer);
  }

  private static Status noAnswer(Throwable failure) {
    return Status.UNAVAILABLE.withDescription("router did not answer: " + failure);
  }

  private static LoadStats loadStats(Snapshot s) {
    return LoadStats.newBuilder()
        .setSinceUnixMs(s.sinceMillis())
        .setUntilUnixMs(s.untilMillis())
        .addAllExperts(ClusterLoadView.expertLoads(s))
        .addAllNodes(ClusterLoadView.nodeLoads(s))
        .build();
  }

  static io.arrakis.proto.v1.Placement toProto(Placement p) {
    io.arrakis.proto.v1.Placement.Builder b =
        io.arrakis.proto.v1.Placement.newBuilder().setVersion(p.version());
    for (Placement.Node n : p.nodes()) {
      PlacementNode.Builder nb =
          PlacementNode.newBuilder()
              .setId(n.id())
              .setAddress(n.address() == null ? "" : n.address());
      n.experts().forEach(e -> nb.addExperts(e.toProto()));
      b.addNodes(nb);
    }
    return b.build();
  }

  static Placement fromProto(io.arrakis.proto.v1.Placement p) {
    List<Placement.Node> nodes = new ArrayList<>();
    for (PlacementNode n : p.getNodesList()) {
      nodes.add(
          new Placement.Node(
              n.getId(),
              n.getAddress().isEmpty() ? null : n.getAddress(),
              n.getExpertsList().stream().map(ExpertId::of).toList()));
    }
    return new Placement(p.getVersion(), nodes);
  }
}
