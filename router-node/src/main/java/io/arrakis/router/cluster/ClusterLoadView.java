package io.arrakis.router.cluster;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.ClusterLoad;
import io.arrakis.proto.v1.ExpertLoad;
import io.arrakis.proto.v1.NodeLoad;
import io.arrakis.proto.v1.RouterLoad;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.stats.LoadStats;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The cluster-wide load as this router last saw it: every router's report and their sum. Written by
 * {@link LoadGossip}, read by the Cluster service and the placement controller (any thread).
 */
public final class ClusterLoadView {
  private final Duration window;
  private final AtomicReference<ClusterLoad> latest;

  public ClusterLoadView(Duration window) {
    this.window = window;
    this.latest =
        new AtomicReference<>(ClusterLoad.newBuilder().setWindowMs(window.toMillis()).build());
  }

  public ClusterLoad get() {
    return latest.get();
  }

  public Duration window() {
    return window;
  }

  void set(Collection<RouterLoad> routers) {
    latest.set(sum(window, routers));
  }

  /** Tokens per expert over the window, summed over the routers: what the controller plans from. */
  public Map<ExpertId, Long> expertTokens() {
    Map<ExpertId, Long> out = new TreeMap<>();
    for (ExpertLoad e : latest.get().getExpertsList()) {
      out.put(ExpertId.of(e.getExpert()), e.getTokens());
    }
    return out;
  }

  /**
   * One router's report: its load over the last {@code window} and the placement versions it uses.
   */
  public static RouterLoad report(
      String routerId,
      String member,
      LoadStats stats,
      Duration window,
      RouterGuardian.Versions versions,
      long nowMillis) {
    LoadStats.Snapshot s = stats.since(nowMillis - window.toMillis());
    RouterLoad.Builder b =
        RouterLoad.newBuilder()
            .setRouterId(routerId)
            .setMember(member)
            .setAtUnixMs(nowMillis)
            .setPlacementVersion(versions.current())
            .setOldestVersionInUse(versions.oldestInUse());
    return b.addAllExperts(expertLoads(s)).addAllNodes(nodeLoads(s)).build();
  }

  /** A snapshot's tokens per expert, as the wire carries them (in the snapshot's order). */
  public static List<ExpertLoad> expertLoads(LoadStats.Snapshot s) {
    List<ExpertLoad> out = new ArrayList<>();
    s.expertTokens()
        .forEach(
            (e, n) -> out.add(ExpertLoad.newBuilder().setExpert(e.toProto()).setTokens(n).build()));
    return out;
  }

  /** A snapshot's tokens and batches per expert node, as the wire carries them. */
  public static List<NodeLoad> nodeLoads(LoadStats.Snapshot s) {
    List<NodeLoad> out = new ArrayList<>();
    s.nodeTokensAndBatches()
        .forEach(
            (id, v) ->
                out.add(
                    NodeLoad.newBuilder().setNodeId(id).setTokens(v[0]).setBatches(v[1]).build()));
    return out;
  }

  /** The reports of {@code routers} and their sums, routers sorted by id. */
  public static ClusterLoad sum(Duration window, Collection<RouterLoad> routers) {
    Map<ExpertId, Long> experts = new TreeMap<>();
    Map<String, long[]> nodes = new TreeMap<>();
    for (RouterLoad r : routers) {
      r.getExpertsList()
          .forEach(e -> experts.merge(ExpertId.of(e.getExpert()), e.getTokens(), Long::sum));
      r.getNodesList()
          .forEach(
              n -> {
                long[] v = nodes.computeIfAbsent(n.getNodeId(), k -> new long[2]);
                v[0] += n.getTokens();
                v[1] += n.getBatches();
              });
    }
    ClusterLoad.Builder b = ClusterLoad.newBuilder().setWindowMs(window.toMillis());
    experts.forEach(
        (e, n) -> b.addExperts(ExpertLoad.newBuilder().setExpert(e.toProto()).setTokens(n)));
    nodes.forEach(
        (id, v) ->
            b.addNodes(NodeLoad.newBuilder().setNodeId(id).setTokens(v[0]).setBatches(v[1])));
    routers.stream()
        .sorted(Comparator.comparing(RouterLoad::getRouterId).thenComparing(RouterLoad::getMember))
        .forEach(b::addRouters);
    return b.build();
  }
}
