package io.arrakis.model.placement;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which expert nodes hold which experts, with a version. The JSON form is {@code {"version": N,
 * "nodes": [{"id": "expert-0", "address": "127.0.0.1:50061", "experts": [{"layer": 0, "expert": 3},
 * …]}, …]}} ({@link PlacementJson}); {@code address} may be absent where discovery supplies it.
 * Versions follow {@link PlacementVersions}.
 */
public record Placement(long version, List<Node> nodes) {

  /**
   * One expert node: its id, where to reach it (null when discovery supplies it) and what it holds.
   */
  public record Node(String id, String address, List<ExpertId> experts) {
    public Node {
      if (id == null || id.isBlank()) {
        throw new IllegalArgumentException("a placement node needs a non-empty id");
      }
      experts = List.copyOf(experts);
    }

    public Node withAddress(String a) {
      return new Node(id, a, experts);
    }
  }

  public Placement {
    PlacementVersions.checkRange(version);
    nodes = List.copyOf(nodes);
    Set<String> ids = new HashSet<>();
    for (Node n : nodes) {
      if (!ids.add(n.id())) {
        throw new IllegalArgumentException("placement lists node '" + n.id() + "' twice");
      }
    }
  }

  /** The ids of the nodes holding {@code expert}, in placement order. */
  public List<String> holders(ExpertId expert) {
    List<String> out = new ArrayList<>();
    for (Node n : nodes) {
      if (n.experts().contains(expert)) {
        out.add(n.id());
      }
    }
    return out;
  }

  /** Every expert and the ids of the nodes that hold it, in (layer, expert) order. */
  public Map<ExpertId, List<String>> holdersByExpert() {
    Map<ExpertId, List<String>> out = new TreeMap<>();
    for (Node n : nodes) {
      for (ExpertId e : n.experts()) {
        out.computeIfAbsent(e, k -> new ArrayList<>()).add(n.id());
      }
    }
    return out;
  }

  public Node node(String id) {
    for (Node n : nodes) {
      if (n.id().equals(id)) {
        return n;
      }
    }
    throw new IllegalArgumentException("no node '" + id + "' in placement version " + version);
  }

  /**
   * Checks the placement against a model: every expert of every MoE layer held by at least one
   * node, nothing outside the model. The message names what is wrong.
   */
  public void checkCovers(List<Integer> moeLayers, int numExperts) {
    List<String> problems = new ArrayList<>();
    for (Node n : nodes) {
      for (ExpertId e : n.experts()) {
        if (!moeLayers.contains(e.layer())) {
          problems.add(
              "node '"
                  + n.id()
                  + "' holds layer "
                  + e.layer()
                  + ", which is not an MoE layer "
                  + moeLayers);
        } else if (e.expert() < 0 || e.expert() >= numExperts) {
          problems.add(
              "node '" + n.id() + "' holds expert " + e + ", out of range 0.." + (numExperts - 1));
        }
      }
    }
    Map<ExpertId, List<String>> held = holdersByExpert();
    List<String> missing = new ArrayList<>();
    for (int layer : moeLayers) {
      for (int e = 0; e < numExperts; e++) {
        if (!held.containsKey(new ExpertId(layer, e))) {
          missing.add(layer + ":" + e);
        }
      }
    }
    if (!missing.isEmpty()) {
      problems.add(
          "no node holds expert"
              + (missing.size() > 1 ? "s " : " ")
              + String.join(", ", missing.size() > 20 ? missing.subList(0, 20) : missing)
              + (missing.size() > 20 ? " and " + (missing.size() - 20) + " more" : "")
              + " (layer:expert)");
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(
          "placement version " + version + " is invalid: " + String.join("; ", problems));
    }
  }

  /** Node id → experts, in placement order. */
  public Map<String, List<ExpertId>> expertsByNode() {
    Map<String, List<ExpertId>> out = new LinkedHashMap<>();
    for (Node n : nodes) {
      out.put(n.id(), n.experts());
    }
    return out;
  }
}
