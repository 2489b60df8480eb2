package io.arrakis.router.plan;

import com.google.protobuf.ByteString;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns one request's routing into one slice per expert node. Each (token, expert) pair goes to one
 * replica of the expert: a node this token already goes to when it holds the expert (so a token
 * crosses to a node once), else the holder with the fewest outstanding tokens, counting what this
 * request has already put on each node. Ties go to the holder listed first.
 */
public final class DispatchPlanner {
  private final Map<ExpertId, List<String>> holders;
  private final ReplicaLoad load;

  public DispatchPlanner(Map<ExpertId, List<String>> holders, ReplicaLoad load) {
    this.holders = holders;
    this.load = load;
  }

  /**
   * @param rows the request's hidden states, FLOAT32 little-endian [T, d]
   * @param hidden d
   * @return slices in node-id order
   */
  public List<NodeSlice> plan(int layer, Routing routing, ByteString rows, int hidden) {
    Map<String, Long> tally = new HashMap<>();
    Map<String, NodeBuilder> byNode = new TreeMap<>();
    List<String> chosenForToken = new ArrayList<>(routing.k());
    for (int t = 0; t < routing.tokens(); t++) {
      chosenForToken.clear();
      for (int r = 0; r < routing.k(); r++) {
        int expert = routing.expert(t, r);
        String node = choose(new ExpertId(layer, expert), chosenForToken, tally);
        if (!chosenForToken.contains(node)) {
          chosenForToken.add(node);
          tally.merge(node, 1L, Long::sum);
        }
        byNode.computeIfAbsent(node, NodeBuilder::new).add(t, expert, routing.weight(t, r));
      }
    }
    int rowBytes = hidden * Float.BYTES;
    List<NodeSlice> out = new ArrayList<>(byNode.size());
    for (NodeBuilder b : byNode.values()) {
      out.add(b.build(layer, rows, rowBytes));
    }
    return out;
  }

  private String choose(ExpertId expert, List<String> chosenForToken, Map<String, Long> tally) {
    List<String> candidates = holders.get(expert);
    if (candidates == null || candidates.isEmpty()) {
      throw new IllegalStateException("no node holds expert " + expert);
    }
    if (candidates.size() == 1) {
      return candidates.get(0);
    }
    for (String node : chosenForToken) {
      if (candidates.contains(node)) {
        return node;
      }
    }
    String best = null;
    long bestLoad = Long.MAX_VALUE;
    for (String node : candidates) {
      long l = load.outstanding(node) + tally.getOrDefault(node, 0L);
      if (l < bestLoad) {
        best = node;
        bestLoad = l;
      }
    }
    return best;
  }

  private record Pick(int row, float weight) {}

  /** Collects one node's tokens (ascending, each once) and per-expert rows as tokens arrive in order. */
  private static final class NodeBuilder {
    private final String nodeId;
    private final List<Integer> tokens = new ArrayList<>();
    private final Map<Integer, List<Pick>> byExpert = new TreeMap<>();

    NodeBuilder(String nodeId) {
      this.nodeId = nodeId;
    }

    void add(int token, int expert, float weight) {
      if (tokens.isEmpty() || tokens.get(tokens.size() - 1) != token) {
        tokens.add(token);
      }
      byExpert.computeIfAbsent(expert, e -> new ArrayList<>()).add(new Pick(tokens.size() - 1, weight));
    }

    NodeSlice build(int layer, ByteString rows, int rowBytes) {
      int[] ts = tokens.stream().mapToInt(Integer::intValue).toArray();
      ByteString sliceRows = gather(rows, ts, rowBytes);
      List<NodeSlice.ExpertRows> experts = new ArrayList<>(byExpert.size());
      byExpert.forEach((expert, pairs) -> {
        int[] r = new int[pairs.size()];
        float[] w = new float[pairs.size()];
        for (int i = 0; i < r.length; i++) {
          r[i] = pairs.get(i).row();
          w[i] = pairs.get(i).weight();
        }
        experts.add(new NodeSlice.ExpertRows(expert, r, w));
      });
      return new NodeSlice(nodeId, layer, ts, sliceRows, experts);
    }

    /** The rows of {@code tokens}, sharing the request's bytes where they run consecutively. */
    private static ByteString gather(ByteString rows, int[] tokens, int rowBytes) {
      ByteString out = ByteString.EMPTY;
      int i = 0;
      while (i < tokens.length) {
        int j = i + 1;
        while (j < tokens.length && tokens[j] == tokens[j - 1] + 1) {
          j++;
        }
        out = out.concat(rows.substring(tokens[i] * rowBytes, (tokens[j - 1] + 1) * rowBytes));
        i = j;
      }
      return out;
    }
  }
}
