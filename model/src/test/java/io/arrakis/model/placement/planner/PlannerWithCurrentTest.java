package io.arrakis.model.placement.planner;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Replanning against a current placement keeps experts where they are when that costs no balance.
 */
class PlannerWithCurrentTest {

  private static Loads perturbed(Loads loads, double noise, long seed) {
    Random r = new Random(seed);
    double[][] t = new double[loads.numLayers()][];
    for (int i = 0; i < t.length; i++) {
      t[i] = loads.tokens(i);
      for (int e = 0; e < t[i].length; e++) {
        t[i][e] = Math.max(0, Math.round(t[i][e] * (1 + noise * r.nextGaussian())));
      }
    }
    return Loads.of(loads.layers(), t);
  }

  private static int placements(Placement p) {
    return p.nodes().stream().mapToInt(n -> n.experts().size()).sum();
  }

  @ParameterizedTest(name = "zipf {0}, {1} experts, {2} nodes, {3} slots")
  @CsvSource({"0.0,64,8,8", "0.8,64,8,9", "1.2,128,16,9", "1.4,64,8,10", "1.0,256,16,17"})
  void replanningTheSameLoadsMovesNothing(double zipf, int experts, int nodes, int slots) {
    Loads loads = ZipfTraces.generate(3, experts, zipf, 64L * experts, 21);
    Plan first = Planner.plan(loads, nodes, slots, Strategy.BALANCED, Optional.empty());
    Plan again =
        Planner.plan(loads, nodes, slots, Strategy.BALANCED, Optional.of(first.placement()));
    assertThat(again.moved()).isZero();
    assertThat(again.dropped()).isZero();
    assertThat(again.placement().nodes()).isEqualTo(first.placement().nodes());
    assertThat(again.placement().version()).isEqualTo(2);
    assertThat(again.balance().mean()).isEqualTo(first.balance().mean());
    assertThat(again.currentBalance()).contains(first.balance());
  }

  @ParameterizedTest(name = "zipf {0}, {1} experts, {2} nodes, {3} slots")
  @CsvSource({"0.8,64,8,8", "1.0,128,16,8", "1.4,64,8,8"})
  void aSmallChangeWithoutSpareSlotsMovesFew(double zipf, int experts, int nodes, int slots) {
    Loads loads = ZipfTraces.generate(3, experts, zipf, 64L * experts, 22);
    Plan first = Planner.plan(loads, nodes, slots, Strategy.BALANCED, Optional.empty());
    Loads changed = perturbed(loads, 0.05, 1);
    Plan next =
        Planner.plan(changed, nodes, slots, Strategy.BALANCED, Optional.of(first.placement()));
    Plan fresh = Planner.plan(changed, nodes, slots, Strategy.BALANCED, Optional.empty());
    System.out.printf(
        "zipf %.1f: moved %d of %d (a fresh plan would move %d), balance %.4f (fresh %.4f)%n",
        zipf,
        next.moved(),
        placements(next.placement()),
        Planner.moved(first.placement(), fresh.placement()),
        next.balance().mean(),
        fresh.balance().mean());
    assertThat(next.balance().mean())
        .as("costs no balance")
        .isLessThanOrEqualTo(fresh.balance().mean() + 1e-9);
    assertThat(next.moved()).isLessThanOrEqualTo(placements(next.placement()) / 20);
  }

  @ParameterizedTest(name = "zipf {0}, {1} experts, {2} nodes, {3} slots")
  @CsvSource({"0.8,64,8,9", "1.0,128,16,9", "1.4,64,8,10"})
  void withSpareSlotsNoBalanceIsLostAndASmallSlackKeepsMoreInPlace(
      double zipf, int experts, int nodes, int slots) {
    Loads loads = ZipfTraces.generate(3, experts, zipf, 64L * experts, 23);
    Plan first = Planner.plan(loads, nodes, slots, Strategy.BALANCED, Optional.empty());
    Loads changed = perturbed(loads, 0.02, 2);
    Plan fresh = Planner.plan(changed, nodes, slots, Strategy.BALANCED, Optional.empty());
    int freshMoves = Planner.moved(first.placement(), fresh.placement());

    Plan strict =
        Planner.plan(changed, nodes, slots, Strategy.BALANCED, Optional.of(first.placement()));
    assertThat(strict.balance().mean()).isLessThanOrEqualTo(fresh.balance().mean() + 1e-9);
    assertThat(strict.moved()).isLessThan(freshMoves);

    Plan slack =
        Planner.plan(
            changed,
            nodes,
            slots,
            Strategy.BALANCED,
            Optional.of(first.placement()),
            Planner.Options.defaults().withBalanceSlack(0.01));
    System.out.printf(
        "zipf %.1f: fresh plan moves %d, strict %d (balance %.4f), 1%% slack %d (balance %.4f) of %d%n",
        zipf,
        freshMoves,
        strict.moved(),
        strict.balance().mean(),
        slack.moved(),
        slack.balance().mean(),
        placements(slack.placement()));
    for (int i = 0; i < changed.numLayers(); i++) {
      assertThat(slack.balance().layers().get(i).maxNodeLoad())
          .isLessThanOrEqualTo(strict.balance().layers().get(i).maxNodeLoad() * 1.01 + 1e-9);
    }
    assertThat(slack.moved()).isLessThanOrEqualTo(strict.moved());
    assertThat(slack.moved()).isLessThanOrEqualTo(placements(slack.placement()) / 10);
  }

  @Test
  void nodeSetsGoToTheNodesThatAlreadyHoldThem() {
    // The current placement is the planner's own answer with its nodes renamed: relabelling
    // recovers it, nothing moves.
    Loads loads = ZipfTraces.generate(2, 64, 1.0, 4096, 24);
    Placement planned = Planner.plan(loads, 8, 9, Strategy.BALANCED, Optional.empty()).placement();
    List<Placement.Node> rotated = new ArrayList<>();
    for (int n = 0; n < 8; n++) {
      rotated.add(
          new Placement.Node(
              Strategies.nodeId((n + 3) % 8),
              "host-" + ((n + 3) % 8) + ":1",
              planned.nodes().get(n).experts()));
    }
    Placement current = new Placement(7, rotated);
    Plan next = Planner.plan(loads, 8, 9, Strategy.BALANCED, Optional.of(current));
    assertThat(next.moved()).isZero();
    assertThat(next.placement().version()).isEqualTo(8);
    assertThat(next.placement().node("expert-3").experts())
        .isEqualTo(planned.node("expert-0").experts());
    assertThat(next.placement().node("expert-3").address())
        .as("addresses carry over")
        .isEqualTo("host-3:1");
  }

  @Test
  void fromAFixedLayoutBalancedKeepsWhatItCanAndReportsTheMoves() {
    Loads loads = ZipfTraces.generate(2, 64, 1.2, 4096, 25);
    Plan contiguous = Planner.plan(loads, 8, 10, Strategy.CONTIGUOUS, Optional.empty());
    Plan next = Planner.plan(loads, 8, 10, Strategy.BALANCED, Optional.of(contiguous.placement()));
    Plan fresh = Planner.plan(loads, 8, 10, Strategy.BALANCED, Optional.empty());
    assertThat(next.balance().mean()).isLessThanOrEqualTo(fresh.balance().mean() + 1e-9);
    assertThat(next.currentBalance()).contains(contiguous.balance());
    assertThat(next.moved()).isEqualTo(Planner.moved(contiguous.placement(), next.placement()));
    assertThat(next.moved())
        .isLessThanOrEqualTo(Planner.moved(contiguous.placement(), fresh.placement()));
    int kept = placements(next.placement()) - next.moved();
    assertThat(kept).as("some experts stay put").isPositive();
  }

  @Test
  void fixedStrategiesKeepTheirLayoutAndReportMoves() {
    Loads loads = Loads.of(List.of(0), new double[][] {{1, 1, 1, 1}});
    Placement rr = Planner.plan(loads, 2, 2, Strategy.ROUND_ROBIN, Optional.empty()).placement();
    Plan c = Planner.plan(loads, 2, 2, Strategy.CONTIGUOUS, Optional.of(rr));
    // round-robin: {0, 2}, {1, 3}; contiguous: {0, 1}, {2, 3}: experts 1 and 2 move.
    assertThat(c.placement().node("expert-0").experts())
        .containsExactly(new ExpertId(0, 0), new ExpertId(0, 1));
    assertThat(c.moved()).isEqualTo(2);
    assertThat(c.dropped()).isEqualTo(2);
  }
}
