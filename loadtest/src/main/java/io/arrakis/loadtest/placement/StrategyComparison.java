package io.arrakis.loadtest.placement;

import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.Progress;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.planner.Balance;
import io.arrakis.model.placement.planner.Loads;
import io.arrakis.model.placement.planner.Plan;
import io.arrakis.model.placement.planner.Planner;
import io.arrakis.model.placement.planner.Strategy;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

/**
 * The same load against one running cluster under several placements, one after the other: a
 * profile run measures tokens per expert, every variant is planned from that profile, rolled out
 * live and loaded for the same time with the same inputs. Moves are counted from the placement the
 * cluster had at the start, which is what a user would migrate from.
 */
public final class StrategyComparison {

  /** A strategy, and for balanced a replica budget (copies per layer; empty = every slot). */
  public record Variant(Strategy strategy, OptionalInt copiesPerLayer) {
    public String label() {
      return strategy.label()
          + copiesPerLayer.stream().mapToObj(c -> " (budget " + c + ")").findFirst().orElse("");
    }

    /**
     * Every strategy named in {@code strategies}; balanced once per replica budget (or once, with
     * every slot, without budgets). Budgets apply to balanced only, so they are refused without it.
     */
    public static List<Variant> parse(List<String> strategies, List<Integer> budgets) {
      List<Variant> out = new ArrayList<>();
      for (String s : strategies) {
        Strategy st = Strategy.parse(s.trim());
        if (st == Strategy.BALANCED && !budgets.isEmpty()) {
          budgets.forEach(b -> out.add(new Variant(st, OptionalInt.of(b))));
        } else {
          out.add(new Variant(st, OptionalInt.empty()));
        }
      }
      if (!budgets.isEmpty() && out.stream().noneMatch(v -> v.strategy() == Strategy.BALANCED)) {
        throw new IllegalArgumentException(
            "--replicas-per-layer applies to the balanced strategy, which is not compared");
      }
      if (out.isEmpty()) {
        throw new IllegalArgumentException("no strategy to compare");
      }
      return List.copyOf(out);
    }
  }

  /**
   * One variant's outcome.
   *
   * @param copiesPerLayer expert copies per layer the placement holds (mean over layers)
   * @param moved experts loaded onto a node that did not hold them at the start
   * @param predicted the planner's predicted balance for the profile's loads
   * @param result the measured run; its {@code load} has the measured imbalance
   */
  public record Row(
      Variant variant, double copiesPerLayer, int moved, Balance predicted, LoadResult result) {}

  /** All rows, with the profile they were planned from. */
  public record Outcome(int nodes, int slotsPerNode, LoadResult profile, List<Row> rows) {
    public Outcome {
      rows = List.copyOf(rows);
    }
  }

  /** What a comparison reports while it runs. */
  public interface Listener {
    /** One line about the next step. */
    void note(String line);

    /** A fresh progress display for the next load run. */
    Progress.Listener progress();

    Listener QUIET =
        new Listener() {
          @Override
          public void note(String line) {}

          @Override
          public Progress.Listener progress() {
            return Progress.Listener.NONE;
          }
        };
  }

  private final String router;
  private final int nodes;
  private final int slotsPerNode;
  private final List<Integer> layers;
  private final int experts;
  private final float[] inputBias;

  /**
   * @param router the router of a running cluster whose nodes are {@code expert-0 …
   *     expert-(nodes−1)}
   * @param layers the model's MoE layers
   * @param experts experts per layer
   */
  public StrategyComparison(
      String router,
      int nodes,
      int slotsPerNode,
      List<Integer> layers,
      int experts,
      float[] inputBias) {
    this.router = router;
    this.nodes = nodes;
    this.slotsPerNode = slotsPerNode;
    this.layers = List.copyOf(layers);
    this.experts = experts;
    this.inputBias = inputBias;
  }

  /**
   * Runs the profile ({@code load} for {@code profile}, no warm-up of its own beyond the load's),
   * then each variant in turn. Planning problems (a budget outside [experts, nodes × slots]) are
   * found before anything runs.
   */
  public Outcome run(List<Variant> variants, LoadOptions load, Duration profile, Listener listener)
      throws IOException, InterruptedException {
    // the load's security, whose admin token opens the router's Cluster service
    ManagedChannel channel = RouterAdmin.connect(router, load.security());
    try {
      RouterAdmin admin = new RouterAdmin(channel, router, load.security());
      Placement start = admin.placement();
      double[][] even = new double[layers.size()][experts];
      for (double[] layer : even) {
        Arrays.fill(layer, 1);
      }
      Loads uniform = Loads.of(layers, even);
      for (Variant v : variants) {
        plan(v, uniform, start); // fails fast on a shape or budget no placement satisfies
      }
      listener.note(
          String.format(
              Locale.ROOT,
              "profile: %.0f s of load on the starting placement to measure tokens per expert",
              (double) profile.toSeconds()));
      LoadResult profiled = drive(load.withDuration(profile), listener);
      Loads loads = loadsOf(profiled);
      List<Row> rows = new ArrayList<>();
      for (Variant v : variants) {
        Plan plan = plan(v, loads, start);
        Placement live = admin.placement();
        Placement next =
            RouterAdmin.withAddresses(
                new Placement(live.version() + 1, plan.placement().nodes()), live);
        listener.note(
            String.format(
                Locale.ROOT,
                "%s: rolling out version %d (%d experts moved from the start, "
                    + "predicted balance %.3f)",
                v.label(),
                next.version(),
                Planner.moved(start, next),
                plan.balance().mean()));
        admin.setPlacement(next);
        LoadResult r = drive(load, listener);
        rows.add(new Row(v, copiesPerLayer(next), Planner.moved(start, next), plan.balance(), r));
      }
      return new Outcome(nodes, slotsPerNode, profiled, rows);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private Plan plan(Variant v, Loads loads, Placement start) {
    Planner.Options options = Planner.Options.defaults();
    if (v.copiesPerLayer().isPresent()) {
      options = options.withReplicasPerLayer(v.copiesPerLayer().getAsInt());
    }
    try {
      return Planner.plan(loads, nodes, slotsPerNode, v.strategy(), Optional.of(start), options);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(v.label() + ": " + e.getMessage(), e);
    }
  }

  private LoadResult drive(LoadOptions load, Listener listener) throws InterruptedException {
    LoadResult r = new ClosedLoopDriver(load, inputBias).run(listener.progress());
    if (r.load() == null) {
      throw new IllegalStateException(
          "the router's load stats could not be read: " + r.loadError());
    }
    return r;
  }

  /** Tokens per expert of a run, as the router counted them, in the planner's shape. */
  Loads loadsOf(LoadResult r) {
    double[][] tokens = new double[layers.size()][experts];
    for (Map.Entry<ExpertId, Long> e : r.load().expertTokens().entrySet()) {
      int li = layers.indexOf(e.getKey().layer());
      if (li >= 0 && e.getKey().expert() < experts) {
        tokens[li][e.getKey().expert()] += e.getValue();
      }
    }
    return Loads.of(layers, tokens);
  }

  private double copiesPerLayer(Placement p) {
    long copies = p.nodes().stream().mapToLong(n -> n.experts().size()).sum();
    return (double) copies / layers.size();
  }

  /**
   * Enough slots per node to hold every expert once, plus half as many again for replicas of hot
   * ones.
   */
  public static int defaultSlots(int experts, int nodes) {
    int fit = (experts + nodes - 1) / nodes;
    return fit + Math.max(1, fit / 2);
  }
}
