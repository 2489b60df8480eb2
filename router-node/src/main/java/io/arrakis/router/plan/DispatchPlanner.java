package io.arrakis.router.plan;

import com.google.protobuf.ByteString;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Turns one request's routing into one slice per expert node. Each (token, expert) pair goes to one
 * replica of the expert: a node this token already goes to when it holds the expert (so a token
 * crosses to a node once), else the holder in rotation with the fewest outstanding tokens, counting
 * what this request has already put on each node; when no holder is in rotation, the holder with
 * the fewest outstanding tokens all the same. Ties go to the holder listed first.
 */
public final class DispatchPlanner {
  private final Map<ExpertId, List<String>> holders;
  private final ReplicaLoad load;
  private final NodeHealth health;

  public DispatchPlanner(Map<ExpertId, List<String>> holders, ReplicaLoad load, NodeHealth health) {
    this.holders = holders;
    this.load = load;
    this.health = health;
  }

  /**
   * {@link #plan(int, Routing, ByteString, DType, int)} for float32 rows.
   *
   * @param rows the request's hidden states, FLOAT32 little-endian [T, d]
   * @param hidden d
   * @return slices in node-id order
   * @throws NoReplicaException when no node holds an expert the routing chose
   */
  public List<NodeSlice> plan(int layer, Routing routing, ByteString rows, int hidden) {
    return plan(layer, routing, rows, DType.FLOAT32, hidden);
  }

  /**
   * Splits a layer's rows into one slice per expert node, each (token, expert) pair on the replica
   * the class comment says.
   *
   * @param rows the request's hidden states, little-endian [T, d] of {@code dtype}
   * @param dtype FLOAT32 or BFLOAT16
   * @param hidden d
   * @return slices in node-id order
   * @throws NoReplicaException when no node holds an expert the routing chose
   */
  public List<NodeSlice> plan(
      int layer, Routing routing, ByteString rows, DType dtype, int hidden) {
    List<Pair> pairs = new ArrayList<>(routing.tokens() * routing.k());
    for (int t = 0; t < routing.tokens(); t++) {
      for (int r = 0; r < routing.k(); r++) {
        pairs.add(new Pair(t, routing.expert(t, r), routing.weight(t, r)));
      }
    }
    return assign(layer, pairs, Set.of(), rows, dtype, hidden, 0);
  }

  /**
   * Slices that redo a failed slice's work on other replicas, never on {@code failedNode}.
   *
   * @param rows the request's hidden states, as given to {@link #plan}
   * @throws NoReplicaException when no other node holds one of its experts
   */
  public List<NodeSlice> replan(NodeSlice failed, String failedNode, ByteString rows, int hidden) {
    List<Pair> pairs = new ArrayList<>();
    for (NodeSlice.ExpertRows e : failed.experts()) {
      for (int i = 0; i < e.rows().length; i++) {
        pairs.add(new Pair(failed.tokens()[e.rows()[i]], e.expert(), e.weights()[i]));
      }
    }
    pairs.sort((a, b) -> a.token() != b.token() ? Integer.compare(a.token(), b.token()) : 0);
    return assign(
        failed.layer(),
        pairs,
        Set.of(failedNode),
        rows,
        failed.dtype(),
        hidden,
        failed.attempt() + 1);
  }

  /** Pairs must come grouped by token, tokens ascending. */
  private List<NodeSlice> assign(
      int layer,
      List<Pair> pairs,
      Set<String> exclude,
      ByteString rows,
      DType dtype,
      int hidden,
      int attempt) {
    Map<String, Long> tally = new HashMap<>();
    Map<String, NodeBuilder> byNode = new TreeMap<>();
    Set<ExpertId> unserved = new TreeSet<>();
    List<String> chosenForToken = new ArrayList<>();
    int token = -1;
    for (Pair p : pairs) {
      if (p.token() != token) {
        token = p.token();
        chosenForToken.clear();
      }
      ExpertId expert = new ExpertId(layer, p.expert());
      String node = choose(expert, chosenForToken, tally, exclude);
      if (node == null) {
        unserved.add(expert);
        continue;
      }
      if (!chosenForToken.contains(node)) {
        chosenForToken.add(node);
        tally.merge(node, 1L, Long::sum);
      }
      byNode.computeIfAbsent(node, NodeBuilder::new).add(p.token(), p.expert(), p.weight());
    }
    if (!unserved.isEmpty()) {
      throw new NoReplicaException(layer, unserved);
    }
    int rowBytes = hidden * TensorCodec.elementSize(dtype);
    List<NodeSlice> out = new ArrayList<>(byNode.size());
    for (NodeBuilder b : byNode.values()) {
      out.add(b.build(layer, rows, rowBytes, attempt, dtype));
    }
    return out;
  }

  /**
   * A node this token already goes to, else the least loaded holder in rotation, else (no holder in
   * rotation: a node out of rotation may only have failed one call) the least loaded holder anyway.
   */
  private String choose(
      ExpertId expert, List<String> chosenForToken, Map<String, Long> tally, Set<String> exclude) {
    List<String> candidates = holders.getOrDefault(expert, List.of());
    for (String node : chosenForToken) {
      if (candidates.contains(node)) {
        return node;
      }
    }
    String best = leastLoaded(candidates, tally, exclude, true);
    return best != null ? best : leastLoaded(candidates, tally, exclude, false);
  }

  private String leastLoaded(
      List<String> candidates, Map<String, Long> tally, Set<String> exclude, boolean inRotation) {
    String best = null;
    long bestLoad = Long.MAX_VALUE;
    for (String node : candidates) {
      if (exclude.contains(node) || (inRotation && !health.inRotation(node))) {
        continue;
      }
      long l = load.outstanding(node) + tally.getOrDefault(node, 0L);
      if (l < bestLoad) {
        best = node;
        bestLoad = l;
      }
    }
    return best;
  }

  private record Pair(int token, int expert, float weight) {}

  private record Pick(int row, float weight) {}

  /**
   * Collects one node's tokens (ascending, each once) and per-expert rows as tokens arrive in
   * order.
   */
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
      byExpert
          .computeIfAbsent(expert, e -> new ArrayList<>())
          .add(new Pick(tokens.size() - 1, weight));
    }

    NodeSlice build(int layer, ByteString rows, int rowBytes, int attempt, DType dtype) {
      int[] ts = tokens.stream().mapToInt(Integer::intValue).toArray();
      List<NodeSlice.ExpertRows> experts = new ArrayList<>(byExpert.size());
      byExpert.forEach(
          (expert, picks) -> {
            int[] r = new int[picks.size()];
            float[] w = new float[picks.size()];
            for (int i = 0; i < r.length; i++) {
              r[i] = picks.get(i).row();
              w[i] = picks.get(i).weight();
            }
            experts.add(new NodeSlice.ExpertRows(expert, r, w));
          });
      return new NodeSlice(nodeId, layer, ts, gather(rows, ts, rowBytes), experts, attempt, dtype);
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
