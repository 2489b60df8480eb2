package io.arrakis.model.placement.planner;

import io.arrakis.model.placement.Placement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;

/**
 * The comparison grid of skewed traces (issue 4): Zipf exponent × experts × nodes × spare slots.
 * Each case plans {@value #LAYERS} layers, each with its own random order of the Zipf weights and
 * multinomial noise ({@value #TOKENS_PER_EXPERT} tokens per expert on average, fixed seed per
 * (exponent, experts), so the same traffic is placed on every hardware shape).
 *
 * <p>Spare slots are exact: the replica budget per layer is experts + spare, and the slots per node
 * are ceil((experts + spare) ÷ nodes), the fewest that fit the budget. When nodes do not divide
 * experts + spare (e.g. 64 + 4 on 8 nodes: 9 slots, 68 replicas), some nodes keep a slot free; EPLB
 * and the planner get the same budget.
 */
public final class PlannerGrid {
  public static final List<Double> EXPONENTS = List.of(0.0, 0.4, 0.8, 1.0, 1.2, 1.4);
  public static final List<Integer> EXPERTS = List.of(64, 128, 256);
  public static final List<Integer> NODES = List.of(8, 16);
  public static final List<Integer> SPARE = List.of(0, 4, 8, 16);
  public static final int LAYERS = 4;
  public static final int TOKENS_PER_EXPERT = 64;

  private PlannerGrid() {}

  public record Case(double exponent, int experts, int nodes, int spare) {
    public int replicasPerLayer() {
      return experts + spare;
    }

    public int slotsPerNode() {
      return (replicasPerLayer() + nodes - 1) / nodes;
    }

    public Loads trace() {
      long seed = 0x5EED_0000L + experts * 1_000L + Math.round(exponent * 100);
      return ZipfTraces.generate(
          LAYERS, experts, exponent, (long) TOKENS_PER_EXPERT * experts, seed);
    }
  }

  /**
   * Predicted balance (max ÷ mean node load, mean over layers) of each strategy on one case. {@code
   * eplbAsIs} is EPLB's own measure (a node may hold two replicas of one expert, each carrying its
   * share); {@code eplbPlacement} the same result as a placement (an expert held once per node).
   */
  public record Row(
      Case c,
      double contiguous,
      double roundRobin,
      double eplbAsIs,
      double eplbPlacement,
      int eplbDuplicates,
      double balanced,
      double bound,
      double millis) {
    /** Strictly better than EPLB by either measure, beyond rounding. */
    public boolean balancedBeatsEplb() {
      return balanced < Math.min(eplbAsIs, eplbPlacement) - 1e-9;
    }
  }

  /**
   * Experts moved when the loads drift a little (each count × (1 + noise·N(0,1)), fixed seed) and
   * the plan is redone: from scratch by EPLB and by balanced (what a planner that ignores the
   * current placement makes the rollout load), and by balanced given the current placement, with no
   * balance slack and with 0.1% and 1%. {@code placements} is the (expert, node) pairs of the
   * strict plan; balances are of the new plans under the new loads.
   */
  public record MigrationRow(
      Case c,
      double noise,
      int placements,
      int eplbRerunMoves,
      int freshMoves,
      int strictMoves,
      int slack01Moves,
      int slack1Moves,
      double freshBalance,
      double strictBalance,
      double slack01Balance,
      double slack1Balance) {}

  /** A smaller grid for the migration figures (each case plans five times). */
  public static List<Case> migrationCases() {
    List<Case> out = new ArrayList<>();
    for (double s : new double[] {0.8, 1.2}) {
      for (int e : new int[] {64, 256}) {
        for (int n : NODES) {
          for (int spare : new int[] {0, 8}) {
            out.add(new Case(s, e, n, spare));
          }
        }
      }
    }
    return out;
  }

  public static MigrationRow migration(Case c, double noise) {
    Loads before = c.trace();
    Random random = new Random(0xD81F7L + c.experts());
    double[][] t = new double[before.numLayers()][];
    for (int i = 0; i < t.length; i++) {
      t[i] = before.tokens(i);
      for (int e = 0; e < t[i].length; e++) {
        t[i][e] = Math.max(0, Math.round(t[i][e] * (1 + noise * random.nextGaussian())));
      }
    }
    Loads after = Loads.of(before.layers(), t);
    int n = c.nodes();
    int s = c.slotsPerNode();
    Planner.Options options = Planner.Options.defaults().withReplicasPerLayer(c.replicasPerLayer());
    Plan current = Planner.plan(before, n, s, Strategy.BALANCED, Optional.empty(), options);
    Plan fresh = Planner.plan(after, n, s, Strategy.BALANCED, Optional.empty(), options);
    Optional<Placement> cur = Optional.of(current.placement());
    Plan strict = Planner.plan(after, n, s, Strategy.BALANCED, cur, options);
    Plan slack01 =
        Planner.plan(after, n, s, Strategy.BALANCED, cur, options.withBalanceSlack(0.001));
    Plan slack1 = Planner.plan(after, n, s, Strategy.BALANCED, cur, options.withBalanceSlack(0.01));
    int eplbMoves =
        Planner.moved(
            EplbBaseline.run(before, n, s, c.replicasPerLayer()).placement(),
            EplbBaseline.run(after, n, s, c.replicasPerLayer()).placement());
    int placements = strict.placement().nodes().stream().mapToInt(x -> x.experts().size()).sum();
    return new MigrationRow(
        c,
        noise,
        placements,
        eplbMoves,
        Planner.moved(current.placement(), fresh.placement()),
        strict.moved(),
        slack01.moved(),
        slack1.moved(),
        fresh.balance().mean(),
        strict.balance().mean(),
        slack01.balance().mean(),
        slack1.balance().mean());
  }

  public static List<Case> cases() {
    List<Case> out = new ArrayList<>();
    for (double s : EXPONENTS) {
      for (int e : EXPERTS) {
        for (int n : NODES) {
          for (int spare : SPARE) {
            out.add(new Case(s, e, n, spare));
          }
        }
      }
    }
    return out;
  }

  public static Row run(Case c) {
    Loads loads = c.trace();
    int n = c.nodes();
    int s = c.slotsPerNode();
    Planner.Options options = Planner.Options.defaults().withReplicasPerLayer(c.replicasPerLayer());
    double contiguous =
        Planner.plan(loads, n, s, Strategy.CONTIGUOUS, Optional.empty(), options).balance().mean();
    double roundRobin =
        Planner.plan(loads, n, s, Strategy.ROUND_ROBIN, Optional.empty(), options).balance().mean();
    EplbBaseline.Result eplb = EplbBaseline.run(loads, n, s, c.replicasPerLayer());
    long start = System.nanoTime();
    Plan balanced = Planner.plan(loads, n, s, Strategy.BALANCED, Optional.empty(), options);
    double millis = (System.nanoTime() - start) / 1e6;
    return new Row(
        c,
        contiguous,
        roundRobin,
        eplb.balanceAsIs(),
        Balance.of(eplb.placement(), loads).mean(),
        eplb.duplicates(),
        balanced.balance().mean(),
        balanced.bound().mean(),
        millis);
  }
}
