package io.arrakis.model.placement.planner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Random;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Properties every plan has, on random shapes and traces (fixed seeds). */
class PlannerPropertiesTest {

  static LongStream seeds() {
    return LongStream.range(0, 150);
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void everyPlanIsValid(long seed) {
    Random r = new Random(seed);
    int experts = 1 + r.nextInt(48);
    int nodes = 1 + r.nextInt(12);
    int slots = (experts + nodes - 1) / nodes + r.nextInt(4);
    int budget = experts + r.nextInt(nodes * slots - experts + 1);
    Loads loads = randomLoads(r, experts);
    Optional<Placement> current =
        r.nextBoolean() ? Optional.empty() : Optional.of(randomCurrent(r, loads));
    Planner.Options options =
        Planner.Options.defaults()
            .withReplicasPerLayer(budget)
            .withBalanceSlack(r.nextBoolean() ? 0 : 0.01);

    for (Strategy strategy : Strategy.values()) {
      Plan plan = Planner.plan(loads, nodes, slots, strategy, current, options);
      Placement p = plan.placement();
      String what =
          strategy
              + " on "
              + experts
              + " experts, "
              + nodes
              + " nodes × "
              + slots
              + " slots, budget "
              + budget;

      p.checkCovers(loads.layers(), experts);
      assertThat(p.version()).as(what).isEqualTo(current.map(c -> c.version() + 1).orElse(1L));
      assertThat(p.nodes())
          .extracting(Placement.Node::id)
          .containsExactlyElementsOf(
              IntStream.range(0, nodes).mapToObj(Strategies::nodeId).toList());
      for (int layer : loads.layers()) {
        int replicas = 0;
        for (Placement.Node n : p.nodes()) {
          List<ExpertId> here = n.experts().stream().filter(e -> e.layer() == layer).toList();
          assertThat(here).as(what + ": one replica per node per expert").doesNotHaveDuplicates();
          assertThat(here.size())
              .as(what + ": slots of " + n.id() + " in layer " + layer)
              .isLessThanOrEqualTo(slots);
          replicas += here.size();
        }
        if (strategy == Strategy.BALANCED) {
          assertThat(replicas).as(what + ": replica budget").isLessThanOrEqualTo(budget);
        } else {
          assertThat(replicas).as(what + ": one copy each").isEqualTo(experts);
        }
      }
      assertThat(plan.balance()).isEqualTo(Balance.of(p, loads));
      assertThat(plan.balance().mean())
          .as(what + ": no plan beats the bound")
          .isGreaterThanOrEqualTo(plan.bound().mean() - 1e-9);
      Placement before = current.orElse(new Placement(0, List.of()));
      assertThat(plan.moved()).isEqualTo(Planner.moved(before, p));
      assertThat(plan.dropped()).isEqualTo(Planner.moved(p, before));
      if (strategy == Strategy.BALANCED && current.isEmpty()) {
        EplbBaseline.Result eplb = EplbBaseline.run(loads, nodes, slots, budget);
        assertThat(plan.balance().mean())
            .as(what + ": vs EPLB")
            .isLessThanOrEqualTo(
                Math.min(eplb.balanceAsIs(), Balance.of(eplb.placement(), loads).mean()) + 1e-9);
      }
    }
  }

  /** Zipf with a random exponent, or all zero, or one hot expert; layer ids not always from 0. */
  private static Loads randomLoads(Random r, int experts) {
    int layers = 1 + r.nextInt(3);
    int first = r.nextInt(3);
    List<Integer> ids = new ArrayList<>();
    double[][] tokens = new double[layers][];
    for (int l = 0; l < layers; l++) {
      ids.add(first + 2 * l);
      int kind = r.nextInt(6);
      if (kind == 0) {
        tokens[l] = new double[experts];
      } else if (kind == 1) {
        tokens[l] = new double[experts];
        tokens[l][r.nextInt(experts)] = 1000;
      } else {
        tokens[l] =
            ZipfTraces.generate(1, experts, 1.6 * r.nextDouble(), 20L * experts, r.nextLong())
                .tokens(0);
      }
    }
    return Loads.of(ids, tokens);
  }

  /**
   * Some earlier placement: another node count, slots overfull, experts missing or out of range.
   */
  private static Placement randomCurrent(Random r, Loads loads) {
    int nodes = 1 + r.nextInt(12);
    List<Placement.Node> out = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      Set<ExpertId> held = new HashSet<>();
      int k = r.nextInt(2 * loads.numExperts() / nodes + 3);
      for (int i = 0; i < k; i++) {
        held.add(
            new ExpertId(
                loads.layers().get(r.nextInt(loads.numLayers())),
                r.nextInt(loads.numExperts() + 2)));
      }
      out.add(
          new Placement.Node(
              Strategies.nodeId(n),
              r.nextBoolean() ? "10.0.0." + n + ":50061" : null,
              new ArrayList<>(held)));
    }
    return new Placement(r.nextInt(5), out);
  }

  @Test
  void refusesWhenTheSlotsCannotHoldEveryExpert() {
    Loads loads = Loads.of(List.of(0), new double[][] {new double[64]});
    assertThatThrownBy(() -> Planner.plan(loads, 8, 7, Strategy.BALANCED, Optional.empty()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(
            "8 nodes × 7 slots per node = 56 slots per layer, fewer than the 64 experts")
        .hasMessageContaining("at least 8 slots per node or 10 nodes");
    assertThatThrownBy(() -> Planner.plan(loads, 0, 8, Strategy.CONTIGUOUS, Optional.empty()))
        .hasMessageContaining("at least one node");
    assertThatThrownBy(() -> Planner.plan(loads, 8, 0, Strategy.CONTIGUOUS, Optional.empty()))
        .hasMessageContaining("slots per node must be at least 1");
    assertThatThrownBy(
            () ->
                Planner.plan(
                    loads,
                    8,
                    9,
                    Strategy.BALANCED,
                    Optional.empty(),
                    Planner.Options.defaults().withReplicasPerLayer(73)))
        .hasMessageContaining("replicas per layer must be between the 64 experts and the 72 slots");
  }

  @Test
  void strategiesParseTheirCommandLineNames() {
    for (Strategy s : Strategy.values()) {
      assertThat(Strategy.parse(s.label())).isEqualTo(s);
    }
    assertThatThrownBy(() -> Strategy.parse("greedy"))
        .hasMessageContaining("contiguous, round-robin or balanced");
  }

  @Test
  void balancedIsDeterministic() {
    Loads loads = ZipfTraces.generate(3, 96, 1.1, 5000, 5);
    Plan a = Planner.plan(loads, 12, 10, Strategy.BALANCED, Optional.empty());
    Plan b = Planner.plan(loads, 12, 10, Strategy.BALANCED, Optional.empty());
    assertThat(a.placement()).isEqualTo(b.placement());
  }

  @Test
  void aTinyWorkBudgetStillGivesAValidPlanNoWorseThanItsStart() {
    Loads loads = ZipfTraces.generate(2, 64, 1.0, 4000, 9);
    Plan none =
        Planner.plan(
            loads,
            8,
            10,
            Strategy.BALANCED,
            Optional.empty(),
            new Planner.Options(OptionalInt.empty(), 0, 0));
    none.placement().checkCovers(loads.layers(), 64);
    EplbBaseline.Result eplb = EplbBaseline.run(loads, 8, 10, 80);
    Plan full = Planner.plan(loads, 8, 10, Strategy.BALANCED, Optional.empty());
    assertThat(full.balance().mean()).isLessThanOrEqualTo(none.balance().mean() + 1e-9);
    assertThat(full.balance().mean()).isLessThan(Balance.of(eplb.placement(), loads).mean());
  }

  @Test
  void layerStateKeepsIncrementalLoadsInStepWithRecomputedOnes() {
    Random r = new Random(3);
    double[] w = ZipfTraces.generate(1, 30, 1.2, 3000, 4).tokens(0);
    LayerState s = Packing.packDistinct(w, Packing.replicaCounts(w, 40, 6), 6, 8, 40);
    for (int i = 0; i < 500; i++) {
      int a = r.nextInt(6);
      int b = r.nextInt(6);
      if (s.used[a] == 0) {
        continue;
      }
      int e = s.on[a][r.nextInt(s.used[a])];
      if (!s.holds[b][e] && s.hasFreeSlot(b)) {
        if (r.nextBoolean()) {
          s.move(e, a, b);
        } else {
          s.add(b, e);
        }
      } else if (s.replicas[e] > 1) {
        s.remove(a, e);
      }
    }
    double[] incremental = s.load.clone();
    s.recomputeLoads();
    assertThat(incremental).containsExactly(s.load, Offset.offset(1e-9));
  }
}
