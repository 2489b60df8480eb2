package io.arrakis.loadtest.placement;

import io.arrakis.loadtest.load.RouterHints;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ExpertRef;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.PlacementNode;
import io.arrakis.proto.v1.SetPlacementResponse;
import io.arrakis.security.ClientSecurity;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * The router's admin {@code Cluster} service as the placement commands use it: plain calls with a
 * deadline, and a gRPC failure turned into one line naming the call and its status.
 */
public final class RouterAdmin {
  /** A rollout loads experts on every node before switching, so it may take a while. */
  public static final Duration SET_PLACEMENT_TIMEOUT = Duration.ofMinutes(2);

  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final Channel channel;
  private final String target;
  private final ClientSecurity security;

  public RouterAdmin(Channel channel, String target, ClientSecurity security) {
    this.channel = channel;
    this.target = target;
    this.security = security;
  }

  /** A channel to HOST:PORT, TLS and token as {@code security} says; the caller shuts it down. */
  public static ManagedChannel connect(String target, ClientSecurity security) throws IOException {
    if (target == null || !target.contains(":")) {
      throw new IllegalArgumentException("--target must be HOST:PORT, got '" + target + "'");
    }
    return security.channelBuilder(target).build();
  }

  public Placement placement() {
    return call(
        "GetPlacement",
        () -> fromProto(stub(TIMEOUT).getPlacement(GetPlacementRequest.getDefaultInstance())));
  }

  public LoadStats loadStats(long sinceUnixMs) {
    return call(
        "GetLoadStats",
        () ->
            stub(TIMEOUT)
                .getLoadStats(
                    GetLoadStatsRequest.newBuilder().setSinceUnixMs(sinceUnixMs).build()));
  }

  public SetPlacementResponse setPlacement(Placement p) {
    return call("SetPlacement", () -> stub(SET_PLACEMENT_TIMEOUT).setPlacement(toProto(p)));
  }

  private ClusterGrpc.ClusterBlockingStub stub(Duration timeout) {
    return ClusterGrpc.newBlockingStub(channel)
        .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  private <T> T call(String rpc, Supplier<T> body) {
    try {
      return body.get();
    } catch (StatusRuntimeException e) {
      String d = e.getStatus().getDescription();
      throw new IllegalStateException(
          rpc
              + " on the router at "
              + target
              + " failed: "
              + e.getStatus().getCode()
              + (d == null || d.isBlank() ? "" : " (" + d + ")")
              + RouterHints.admin(e.getStatus(), security),
          e);
    }
  }

  public static io.arrakis.proto.v1.Placement toProto(Placement p) {
    io.arrakis.proto.v1.Placement.Builder b =
        io.arrakis.proto.v1.Placement.newBuilder().setVersion(p.version());
    for (Placement.Node n : p.nodes()) {
      PlacementNode.Builder nb = PlacementNode.newBuilder().setId(n.id());
      if (n.address() != null) {
        nb.setAddress(n.address());
      }
      n.experts().forEach(e -> nb.addExperts(e.toProto()));
      b.addNodes(nb);
    }
    return b.build();
  }

  public static Placement fromProto(io.arrakis.proto.v1.Placement p) {
    List<Placement.Node> nodes = new ArrayList<>();
    for (PlacementNode n : p.getNodesList()) {
      List<ExpertId> experts = new ArrayList<>();
      for (ExpertRef r : n.getExpertsList()) {
        experts.add(ExpertId.of(r));
      }
      nodes.add(
          new Placement.Node(n.getId(), n.getAddress().isEmpty() ? null : n.getAddress(), experts));
    }
    return new Placement(p.getVersion(), nodes);
  }

  /**
   * Planned placements name nodes by id only (the planner does not know where they run); the router
   * knows, so its current addresses fill the gaps. A node unknown to both stays without one, and
   * the router judges whether discovery can supply it.
   */
  public static Placement withAddresses(Placement wanted, Placement current) {
    Map<String, String> known =
        current.nodes().stream()
            .filter(n -> n.address() != null)
            .collect(Collectors.toMap(Placement.Node::id, Placement.Node::address));
    return new Placement(
        wanted.version(),
        wanted.nodes().stream()
            .map(
                n ->
                    n.address() != null || !known.containsKey(n.id())
                        ? n
                        : n.withAddress(known.get(n.id())))
            .toList());
  }
}
