package io.arrakis.model.placement.planner;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Predicted balance of a placement under given loads: per layer, max node load ÷ mean node load,
 * where an expert's tokens split evenly over the distinct nodes holding it and the mean is over all
 * nodes of the placement; {@link #mean()} averages the layers (the measure EPLB optimises). 1 is
 * perfect; a layer that carried no tokens counts as 1.
 */
public record Balance(List<LayerBalance> layers) {

  public record LayerBalance(int layer, double maxNodeLoad, double meanNodeLoad) {
    public double ratio() {
      return meanNodeLoad > 0 ? maxNodeLoad / meanNodeLoad : 1.0;
    }
  }

  public Balance {
    layers = List.copyOf(layers);
  }

  /** The predicted balance: max ÷ mean node load averaged over layers. */
  public double mean() {
    return layers.stream().mapToDouble(LayerBalance::ratio).average().orElse(1.0);
  }

  /** The worst layer's max ÷ mean. */
  public double worst() {
    return layers.stream().mapToDouble(LayerBalance::ratio).max().orElse(1.0);
  }

  /**
   * Balance of {@code placement} under {@code loads}. Refuses, naming them, experts that carried
   * tokens but no node holds (their load would go nowhere).
   */
  public static Balance of(Placement placement, Loads loads) {
    List<String> missing = new ArrayList<>();
    Balance b = compute(placement, loads, missing);
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(
          "placement version "
              + placement.version()
              + " holds no replica of expert"
              + (missing.size() > 1 ? "s " : " ")
              + String.join(", ", missing.subList(0, Math.min(20, missing.size())))
              + (missing.size() > 20 ? " and " + (missing.size() - 20) + " more" : "")
              + " (layer:expert), which carried tokens");
    }
    return b;
  }

  /** Like {@link #of} but empty, not an error, when the placement misses an expert with tokens. */
  public static Optional<Balance> ofIfCovers(Placement placement, Loads loads) {
    List<String> missing = new ArrayList<>();
    Balance b = compute(placement, loads, missing);
    return missing.isEmpty() ? Optional.of(b) : Optional.empty();
  }

  private static Balance compute(Placement placement, Loads loads, List<String> missing) {
    int nodes = placement.nodes().size();
    if (nodes == 0) {
      throw new IllegalArgumentException(
          "placement version " + placement.version() + " has no nodes");
    }
    Map<String, Integer> index = new HashMap<>();
    for (int n = 0; n < nodes; n++) {
      index.put(placement.nodes().get(n).id(), n);
    }
    Map<ExpertId, List<String>> holders = placement.holdersByExpert();
    List<LayerBalance> out = new ArrayList<>();
    for (int li = 0; li < loads.numLayers(); li++) {
      int layer = loads.layers().get(li);
      double[] load = new double[nodes];
      for (int e = 0; e < loads.numExperts(); e++) {
        double t = loads.tokens(li, e);
        // A node listing an expert twice holds it once.
        List<String> h =
            new ArrayList<>(
                new LinkedHashSet<>(holders.getOrDefault(new ExpertId(layer, e), List.of())));
        if (h.isEmpty()) {
          if (t > 0) {
            missing.add(layer + ":" + e);
          }
          continue;
        }
        for (String id : h) {
          load[index.get(id)] += t / h.size();
        }
      }
      out.add(of(layer, load, loads.total(li)));
    }
    return new Balance(out);
  }

  static LayerBalance of(int layer, double[] nodeLoad, double totalTokens) {
    double max = 0;
    for (double l : nodeLoad) {
      max = Math.max(max, l);
    }
    return new LayerBalance(layer, max, totalTokens / nodeLoad.length);
  }

  /**
   * A lower bound on the balance any placement can reach with these nodes and replicas, per layer.
   * The max node load is at least the mean; and at least the largest replica, which no placement
   * makes smaller than the water-filling replica counts do (at most one replica per node), plus the
   * other experts its node must hold: every expert needs a slot, so each node holds at least E −
   * (N−1)·S experts, each carrying at least its load split over as many replicas as it could get.
   * Tight when skew leaves no choice (a hot expert and no spare slots); loose otherwise.
   */
  public static Balance lowerBound(Loads loads, int nodes, int slotsPerNode, int replicasPerLayer) {
    Planner.checkShape(loads.numExperts(), nodes, slotsPerNode, replicasPerLayer);
    int experts = loads.numExperts();
    long minItems = Math.max(1, experts - (long) (nodes - 1) * slotsPerNode);
    int maxReplicas = (int) Math.min(nodes, 1L + replicasPerLayer - experts);
    List<LayerBalance> out = new ArrayList<>();
    for (int li = 0; li < loads.numLayers(); li++) {
      double[] w = loads.tokens(li);
      int[] count = Packing.replicaCounts(w, replicasPerLayer, nodes);
      double largest = 0;
      double[] smallest = new double[experts];
      for (int e = 0; e < experts; e++) {
        largest = Math.max(largest, w[e] / count[e]);
        smallest[e] = w[e] / maxReplicas;
      }
      Arrays.sort(smallest);
      double withCompany = largest;
      for (int i = 0; i < minItems - 1; i++) {
        withCompany += smallest[i];
      }
      double total = loads.total(li);
      out.add(
          new LayerBalance(
              loads.layers().get(li), Math.max(total / nodes, withCompany), total / nodes));
    }
    return new Balance(out);
  }
}
