package io.arrakis.loadtest.load;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ExpertLoad;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.NodeLoad;
import io.arrakis.proto.v1.Placement;
import io.arrakis.proto.v1.PlacementNode;
import io.grpc.Channel;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Where the router sent the work of a window, from its admin {@code Cluster} service: tokens per
 * node and per expert (token-expert pairs), and the imbalance max ÷ mean over the nodes of the
 * placement (a node that got nothing counts, as 0). Node tokens are whatever the router counts
 * (cluster.proto says token-expert pairs; the router at the time of writing counts batch rows).
 *
 * @param nodeTokens node id → tokens, in placement order
 * @param nodeBatches node id → Compute calls
 * @param expertTokens expert → tokens
 * @param imbalance max ÷ mean of nodeTokens; NaN when no tokens were routed
 */
public record ClusterLoad(
    Map<String, Long> nodeTokens,
    Map<String, Long> nodeBatches,
    Map<ExpertId, Long> expertTokens,
    double imbalance) {

  public ClusterLoad {
    nodeTokens = Collections.unmodifiableMap(new LinkedHashMap<>(nodeTokens));
    nodeBatches = Collections.unmodifiableMap(new LinkedHashMap<>(nodeBatches));
    expertTokens = Collections.unmodifiableMap(new TreeMap<>(expertTokens));
  }

  /** Asks the router at {@code channel} for the load since {@code sinceUnixMs}. */
  public static ClusterLoad fetch(Channel channel, long sinceUnixMs, Duration timeout) {
    ClusterGrpc.ClusterBlockingStub stub = ClusterGrpc.newBlockingStub(channel);
    Placement placement =
        stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
            .getPlacement(GetPlacementRequest.getDefaultInstance());
    LoadStats stats =
        stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
            .getLoadStats(GetLoadStatsRequest.newBuilder().setSinceUnixMs(sinceUnixMs).build());
    return of(placement, stats);
  }

  static ClusterLoad of(Placement placement, LoadStats stats) {
    Map<String, Long> tokens = new LinkedHashMap<>();
    Map<String, Long> batches = new LinkedHashMap<>();
    for (PlacementNode n : placement.getNodesList()) {
      tokens.put(n.getId(), 0L);
      batches.put(n.getId(), 0L);
    }
    // a node the router no longer places (after a re-placement) still did the work it reports
    for (NodeLoad n : stats.getNodesList()) {
      tokens.merge(n.getNodeId(), n.getTokens(), Long::sum);
      batches.merge(n.getNodeId(), n.getBatches(), Long::sum);
    }
    Map<ExpertId, Long> experts = new TreeMap<>();
    for (ExpertLoad e : stats.getExpertsList()) {
      experts.merge(ExpertId.of(e.getExpert()), e.getTokens(), Long::sum);
    }
    return new ClusterLoad(tokens, batches, experts, imbalance(tokens));
  }

  /** max ÷ mean; NaN for no nodes or no tokens. */
  public static double imbalance(Map<String, Long> load) {
    long sum = 0;
    long max = 0;
    for (long v : load.values()) {
      sum += v;
      max = Math.max(max, v);
    }
    return load.isEmpty() || sum == 0 ? Double.NaN : max / ((double) sum / load.size());
  }

  public long totalTokens() {
    return nodeTokens.values().stream().mapToLong(Long::longValue).sum();
  }
}
