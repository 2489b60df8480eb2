package io.arrakis.model.placement.planner;

import io.arrakis.model.placement.Placement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * DeepSeek's EPLB, global policy ({@code rebalance_experts} with one group and one node, i.e.
 * {@code replicate_experts} then {@code balanced_packing}), reimplemented faithfully as the
 * baseline the balanced planner is measured against:
 *
 * <ol>
 *   <li>replicas: starting from one per expert, the next replica goes to the expert with the
 *       largest load per replica (first index among equals, as {@code torch.max}), until the
 *       budget;
 *   <li>packing: physical replicas (experts 0..E−1, then added replicas in order of addition),
 *       sorted by load heaviest first (stable: lower physical index first), each into the least
 *       loaded node (first among equals, as Python's {@code min}) that has fewer than {@code slots}
 *       replicas.
 * </ol>
 *
 * Differences from eplb.py: double precision instead of float32, and the budget may be below {@code
 * nodes × slots} (eplb.py asserts it divides evenly; with a smaller budget its greedy simply leaves
 * some slots free, which is what this does).
 *
 * <p>EPLB neither caps replicas at the node count nor keeps replicas of one expert on distinct
 * nodes, so a node may hold two replicas of one expert. Its balance is reported two ways:
 * <b>as-is</b> ({@link Result#balanceAsIs()}), each physical replica carrying load ÷ replicas as
 * EPLB's own model assumes; and as the {@link Result#placement() placement} it amounts to, where a
 * node holds an expert once and the load splits over distinct holders (what Arrakis routers do).
 */
final class EplbBaseline {
  private EplbBaseline() {}

  /** One layer's EPLB result: for each physical replica p, its expert and its node. */
  public record Layer(
      int layer, int[] physicalExpert, int[] physicalNode, double[] nodeLoad, double meanLoad) {
    /** Max node load ÷ mean, EPLB's own measure (1 for a layer without tokens). */
    public double ratio() {
      return meanLoad > 0 ? Arrays.stream(nodeLoad).max().orElse(0) / meanLoad : 1.0;
    }

    /** Physical replicas that sit on a node already holding a replica of the same expert. */
    public int duplicates() {
      int nodes = nodeLoad.length;
      Set<Long> seen = new HashSet<>();
      int dup = 0;
      for (int p = 0; p < physicalExpert.length; p++) {
        if (!seen.add((long) physicalExpert[p] * nodes + physicalNode[p])) {
          dup++;
        }
      }
      return dup;
    }

    /** {@code holds[node][expert]}: the distinct-holder view of this layer. */
    boolean[][] holds(int experts) {
      boolean[][] h = new boolean[nodeLoad.length][experts];
      for (int p = 0; p < physicalExpert.length; p++) {
        h[physicalNode[p]][physicalExpert[p]] = true;
      }
      return h;
    }
  }

  public record Result(List<Layer> layers, Placement placement) {
    /** EPLB's own measure averaged over layers: max ÷ mean node load with physical replicas. */
    public double balanceAsIs() {
      return layers.stream().mapToDouble(Layer::ratio).average().orElse(1.0);
    }

    public int duplicates() {
      return layers.stream().mapToInt(Layer::duplicates).sum();
    }
  }

  /**
   * Runs EPLB on every layer with {@code replicasPerLayer} physical replicas per layer (at least
   * the number of experts, at most {@code nodes × slotsPerNode}).
   */
  public static Result run(Loads loads, int nodes, int slotsPerNode, int replicasPerLayer) {
    Planner.checkShape(loads.numExperts(), nodes, slotsPerNode, replicasPerLayer);
    List<Layer> layers = new ArrayList<>();
    List<boolean[][]> holds = new ArrayList<>();
    for (int li = 0; li < loads.numLayers(); li++) {
      Layer l =
          layer(loads.layers().get(li), loads.tokens(li), nodes, slotsPerNode, replicasPerLayer);
      layers.add(l);
      holds.add(l.holds(loads.numExperts()));
    }
    return new Result(List.copyOf(layers), Layouts.toPlacement(1, loads.layers(), holds, nodes));
  }

  static Layer layer(int layerId, double[] weight, int nodes, int slots, int budget) {
    int experts = weight.length;
    int[] added = Packing.replicate(weight, budget, Integer.MAX_VALUE);
    // Physical replica order as eplb.py: the logical experts, then each added replica in turn.
    int[] phyExpert = new int[budget];
    int[] count = new int[experts];
    for (int e = 0; e < experts; e++) {
      phyExpert[e] = e;
      count[e] = 1;
    }
    for (int i = 0; i < added.length; i++) {
      phyExpert[experts + i] = added[i];
      count[added[i]]++;
    }
    Integer[] order = new Integer[budget];
    for (int p = 0; p < budget; p++) {
      order[p] = p;
    }
    // Arrays.sort on objects is stable: equal loads keep physical index order.
    Arrays.sort(
        order,
        (p, q) ->
            Double.compare(
                weight[phyExpert[q]] / count[phyExpert[q]],
                weight[phyExpert[p]] / count[phyExpert[p]]));
    double[] load = new double[nodes];
    int[] items = new int[nodes];
    int[] phyNode = new int[budget];
    for (int p : order) {
      int pack = -1;
      for (int n = 0; n < nodes; n++) {
        if (items[n] < slots && (pack < 0 || load[n] < load[pack])) {
          pack = n;
        }
      }
      phyNode[p] = pack;
      load[pack] += weight[phyExpert[p]] / count[phyExpert[p]];
      items[pack]++;
    }
    double mean = Arrays.stream(weight).sum() / nodes;
    return new Layer(layerId, phyExpert, phyNode, load, mean);
  }
}
