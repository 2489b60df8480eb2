package io.arrakis.loadtest.simulate;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.placement.planner.Balance;
import io.arrakis.model.placement.planner.Loads;
import io.arrakis.model.placement.planner.Planner;
import io.arrakis.model.placement.planner.Strategy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.SplittableRandom;

/**
 * Which nodes hold each expert, made by the project's own placement code: {@link Strategies} for
 * contiguous and round-robin, the {@link Planner} for balanced, which plans from the load of a
 * sample of routed tokens (as it would from a router's exported load).
 */
final class ExpertLayout {
  /** Tokens per layer routed to give the balanced planner its load figures. */
  static final int SAMPLE_TOKENS = 50_000;

  /**
   * Bounds the planner's local search per layer (its default is 10⁸): projections plan many
   * layouts.
   */
  private static final long SEARCH_WORK = 10_000_000L;

  private final int[][][] holders;
  private final Balance balance;

  private ExpertLayout(int[][][] holders, Balance balance) {
    this.holders = holders;
    this.balance = balance;
  }

  static ExpertLayout plan(SimConfig c, ExpertRouting routing) {
    SimConfig.Shape s = c.shape();
    List<Integer> layers = new ArrayList<>();
    for (int l = 0; l < s.layers(); l++) {
      layers.add(l);
    }
    Loads loads = sampleLoads(s, routing, c.seed());
    SimConfig.Layout layout = c.layout();
    Placement placement;
    if (layout.strategy() == Strategy.BALANCED) {
      int slots = layout.slots(s.experts(), s.nodes());
      Planner.Options options = new Planner.Options(OptionalInt.empty(), SEARCH_WORK, 0);
      if (layout.replicasPerLayer() > 0) {
        options = options.withReplicasPerLayer(layout.replicasPerLayer());
      }
      placement =
          Planner.plan(loads, s.nodes(), slots, Strategy.BALANCED, Optional.empty(), options)
              .placement();
    } else {
      if (layout.replicas() > s.nodes()) {
        throw new IllegalArgumentException(
            "--replicas " + layout.replicas() + " needs at least as many nodes, got " + s.nodes());
      }
      Strategies.Kind kind =
          layout.strategy() == Strategy.CONTIGUOUS
              ? Strategies.Kind.CONTIGUOUS
              : Strategies.Kind.ROUND_ROBIN;
      placement = Strategies.place(kind, s.nodes(), layout.replicas(), layers, s.experts());
    }
    return new ExpertLayout(holders(placement, s), Balance.of(placement, loads));
  }

  private static Loads sampleLoads(SimConfig.Shape s, ExpertRouting routing, long seed) {
    SplittableRandom random = new SplittableRandom(seed ^ 0x5DEECE66DL);
    double[][] tokens = new double[s.layers()][s.experts()];
    List<Integer> ids = new ArrayList<>();
    int[] picks = new int[s.topK()];
    for (int l = 0; l < s.layers(); l++) {
      ids.add(l);
      for (int t = 0; t < SAMPLE_TOKENS; t++) {
        routing.route(l, 1, random, picks);
        for (int e : picks) {
          tokens[l][e]++;
        }
      }
    }
    return Loads.of(ids, tokens);
  }

  private static int[][][] holders(Placement p, SimConfig.Shape s) {
    Map<String, Integer> index = new HashMap<>();
    for (int i = 0; i < p.nodes().size(); i++) {
      index.put(p.nodes().get(i).id(), i);
    }
    Map<ExpertId, List<String>> byExpert = p.holdersByExpert();
    int[][][] out = new int[s.layers()][s.experts()][];
    for (int l = 0; l < s.layers(); l++) {
      for (int e = 0; e < s.experts(); e++) {
        List<String> h = byExpert.getOrDefault(new ExpertId(l, e), List.of());
        if (h.isEmpty()) {
          throw new IllegalStateException("the placement holds no copy of expert " + l + ":" + e);
        }
        out[l][e] = h.stream().mapToInt(index::get).toArray();
      }
    }
    return out;
  }

  /**
   * Nodes holding expert {@code e} of layer {@code l}, in placement order (the router's tie order).
   */
  int[] holders(int layer, int expert) {
    return holders[layer][expert];
  }

  /** The placement's predicted balance (max ÷ mean node load) under the sampled load. */
  Balance balance() {
    return balance;
  }
}
