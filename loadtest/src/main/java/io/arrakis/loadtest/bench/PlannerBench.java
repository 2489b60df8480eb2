package io.arrakis.loadtest.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.placement.planner.PlannerGrid;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;

/**
 * Runs {@link PlannerGrid} and writes its figures: every case as JSON, and a markdown summary (by
 * Zipf exponent and by spare slots) for the README.
 *
 * <pre>
 * java -cp loadtest/target/classes:$(cat loadtest/target/classpath.txt) \
 *     io.arrakis.loadtest.bench.PlannerBench [RESULTS.json [SUMMARY.md]]
 * </pre>
 *
 * Defaults: {@code bench/results/placement-planner.json} and {@code bench/planner.md}.
 */
public final class PlannerBench {
  /** Relative drift of each expert's count between two plans in the migration figures. */
  static final double MIGRATION_NOISE = 0.05;

  private PlannerBench() {}

  public static void main(String[] args) throws IOException {
    Path json = Path.of(args.length > 0 ? args[0] : "bench/results/placement-planner.json");
    Path md = Path.of(args.length > 1 ? args[1] : "bench/planner.md");
    List<PlannerGrid.Row> rows = new ArrayList<>();
    for (PlannerGrid.Case c : PlannerGrid.cases()) {
      PlannerGrid.Row r = PlannerGrid.run(c);
      rows.add(r);
      System.out.println(line(r));
    }
    List<PlannerGrid.MigrationRow> moves = new ArrayList<>();
    for (PlannerGrid.Case c : PlannerGrid.migrationCases()) {
      PlannerGrid.MigrationRow m = PlannerGrid.migration(c, MIGRATION_NOISE);
      moves.add(m);
      System.out.println(line(m));
    }
    write(json, json(rows, moves));
    write(md, markdown(rows, moves));
    System.out.printf(
        Locale.ROOT,
        "balanced strictly better than EPLB in %d of %d cases; wrote %s and %s%n",
        rows.stream().filter(PlannerGrid.Row::balancedBeatsEplb).count(),
        rows.size(),
        json,
        md);
  }

  static String line(PlannerGrid.Row r) {
    PlannerGrid.Case c = r.c();
    return String.format(
        Locale.ROOT,
        "zipf=%.1f experts=%d nodes=%d spare=%d slots=%d | contiguous %.4f round-robin %.4f eplb %.4f"
            + " (as placement %.4f, %d same-node duplicates) balanced %.4f bound %.4f | %.0f ms",
        c.exponent(),
        c.experts(),
        c.nodes(),
        c.spare(),
        c.slotsPerNode(),
        r.contiguous(),
        r.roundRobin(),
        r.eplbAsIs(),
        r.eplbPlacement(),
        r.eplbDuplicates(),
        r.balanced(),
        r.bound(),
        r.millis());
  }

  static String line(PlannerGrid.MigrationRow m) {
    PlannerGrid.Case c = m.c();
    return String.format(
        Locale.ROOT,
        "zipf=%.1f experts=%d nodes=%d spare=%d, loads drift %.0f%%: moves of %d placements: EPLB rerun %d,"
            + " balanced fresh %d (%.4f), with current %d (%.4f), 0.1%% slack %d (%.4f), 1%% slack %d (%.4f)",
        c.exponent(),
        c.experts(),
        c.nodes(),
        c.spare(),
        100 * m.noise(),
        m.placements(),
        m.eplbRerunMoves(),
        m.freshMoves(),
        m.freshBalance(),
        m.strictMoves(),
        m.strictBalance(),
        m.slack01Moves(),
        m.slack01Balance(),
        m.slack1Moves(),
        m.slack1Balance());
  }

  private static void write(Path file, String text) throws IOException {
    if (file.getParent() != null) {
      Files.createDirectories(file.getParent());
    }
    Files.writeString(file, text);
  }

  static String json(List<PlannerGrid.Row> rows, List<PlannerGrid.MigrationRow> moves)
      throws IOException {
    ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = mapper.createObjectNode();
    root.put(
        "measure",
        "predicted balance: per layer max node load / mean node load, an expert's tokens split"
            + " evenly over its replicas, averaged over layers (1 = perfect)");
    ObjectNode grid = root.putObject("grid");
    ArrayNode ex = grid.putArray("zipf_exponents");
    for (double s : PlannerGrid.EXPONENTS) {
      ex.add(s);
    }
    ArrayNode e = grid.putArray("experts");
    for (int x : PlannerGrid.EXPERTS) {
      e.add(x);
    }
    ArrayNode n = grid.putArray("nodes");
    for (int x : PlannerGrid.NODES) {
      n.add(x);
    }
    ArrayNode sp = grid.putArray("spare_slots_per_layer");
    for (int x : PlannerGrid.SPARE) {
      sp.add(x);
    }
    grid.put("layers", PlannerGrid.LAYERS);
    grid.put("tokens_per_expert", PlannerGrid.TOKENS_PER_EXPERT);
    grid.put(
        "slots_per_node",
        "ceil((experts + spare) / nodes), replica budget experts + spare per layer");
    ObjectNode summary = root.putObject("summary");
    summary.put("cases", rows.size());
    summary.put(
        "balanced_strictly_better_than_eplb",
        rows.stream().filter(PlannerGrid.Row::balancedBeatsEplb).count());
    summary.put(
        "balanced_worse_than_eplb",
        rows.stream()
            .filter(r -> r.balanced() > Math.min(r.eplbAsIs(), r.eplbPlacement()) + 1e-9)
            .count());
    summary.put("mean_contiguous", mean(rows, PlannerGrid.Row::contiguous));
    summary.put("mean_round_robin", mean(rows, PlannerGrid.Row::roundRobin));
    summary.put("mean_eplb", mean(rows, PlannerGrid.Row::eplbAsIs));
    summary.put("mean_eplb_as_placement", mean(rows, PlannerGrid.Row::eplbPlacement));
    summary.put("mean_balanced", mean(rows, PlannerGrid.Row::balanced));
    summary.put("mean_lower_bound", mean(rows, PlannerGrid.Row::bound));
    ArrayNode cases = root.putArray("cases");
    for (PlannerGrid.Row r : rows) {
      ObjectNode o = cases.addObject();
      o.put("zipf", r.c().exponent());
      o.put("experts", r.c().experts());
      o.put("nodes", r.c().nodes());
      o.put("spare", r.c().spare());
      o.put("slots_per_node", r.c().slotsPerNode());
      o.put("contiguous", round(r.contiguous()));
      o.put("round_robin", round(r.roundRobin()));
      o.put("eplb", round(r.eplbAsIs()));
      o.put("eplb_as_placement", round(r.eplbPlacement()));
      o.put("eplb_same_node_duplicates", r.eplbDuplicates());
      o.put("balanced", round(r.balanced()));
      o.put("lower_bound", round(r.bound()));
      o.put("balanced_strictly_better", r.balancedBeatsEplb());
    }
    ObjectNode migration = root.putObject("migration");
    migration.put(
        "what",
        "loads drift (each count x (1 + noise N(0,1))) and the plan is redone; moves = (expert, node)"
            + " pairs the new plan has and the old lacks");
    migration.put("noise", MIGRATION_NOISE);
    ArrayNode mc = migration.putArray("cases");
    for (PlannerGrid.MigrationRow m : moves) {
      ObjectNode o = mc.addObject();
      o.put("zipf", m.c().exponent());
      o.put("experts", m.c().experts());
      o.put("nodes", m.c().nodes());
      o.put("spare", m.c().spare());
      o.put("placements", m.placements());
      o.put("eplb_rerun_moves", m.eplbRerunMoves());
      o.put("balanced_fresh_moves", m.freshMoves());
      o.put("balanced_fresh_balance", round(m.freshBalance()));
      o.put("with_current_moves", m.strictMoves());
      o.put("with_current_balance", round(m.strictBalance()));
      o.put("slack_0_1pct_moves", m.slack01Moves());
      o.put("slack_0_1pct_balance", round(m.slack01Balance()));
      o.put("slack_1pct_moves", m.slack1Moves());
      o.put("slack_1pct_balance", round(m.slack1Balance()));
    }
    return mapper.writeValueAsString(root) + "\n";
  }

  static String markdown(List<PlannerGrid.Row> rows, List<PlannerGrid.MigrationRow> moves) {
    StringBuilder sb = new StringBuilder();
    sb.append(
            "Predicted balance (max ÷ mean node load per layer, averaged over layers; 1 is perfect) of each\n")
        .append("strategy on ")
        .append(rows.size())
        .append(" skewed traces: Zipf exponent × ")
        .append(join(PlannerGrid.EXPERTS))
        .append(" experts × ")
        .append(join(PlannerGrid.NODES))
        .append(" nodes × ")
        .append(join(PlannerGrid.SPARE))
        .append(" spare slots per layer,\n")
        .append(PlannerGrid.LAYERS)
        .append(" layers each (its own random expert order per layer, multinomial noise, ")
        .append(PlannerGrid.TOKENS_PER_EXPERT)
        .append(" tokens per expert).\n")
        .append(
            "Slots per node = ceil((experts + spare) ÷ nodes), replica budget experts + spare per layer, the\n")
        .append(
            "same for EPLB and balanced; contiguous and round-robin place one copy of each expert. EPLB is\n")
        .append(
            "DeepSeek's global policy as published, by its own measure (it may put two replicas of one expert\n")
        .append(
            "on a node). \"bound\" is a lower bound no placement can beat. Each cell is the mean over the cases\n")
        .append(
            "in its row; the last column counts cases where balanced is strictly better than EPLB.\n\n");
    sb.append(
            "| Zipf exponent | contiguous | round-robin | EPLB | balanced | bound | balanced better |\n")
        .append("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (double s : PlannerGrid.EXPONENTS) {
      row(sb, String.format(Locale.ROOT, "%.1f", s), rows, r -> r.c().exponent() == s);
    }
    sb.append(
            "\n| spare slots per layer | contiguous | round-robin | EPLB | balanced | bound | balanced better |\n")
        .append("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int sp : PlannerGrid.SPARE) {
      row(sb, Integer.toString(sp), rows, r -> r.c().spare() == sp);
    }
    row(
        sb.append(
                "\n| all | contiguous | round-robin | EPLB | balanced | bound | balanced better |\n")
            .append("|---:|---:|---:|---:|---:|---:|---:|\n"),
        "all",
        rows,
        r -> true);
    long better = rows.stream().filter(PlannerGrid.Row::balancedBeatsEplb).count();
    long worse =
        rows.stream()
            .filter(r -> r.balanced() > Math.min(r.eplbAsIs(), r.eplbPlacement()) + 1e-9)
            .count();
    sb.append("\nbalanced is strictly better than EPLB in ")
        .append(better)
        .append(" of ")
        .append(rows.size())
        .append(" cases and worse in ")
        .append(worse)
        .append(". EPLB merged into a placement (a node holding an\n")
        .append("expert once, as Arrakis routes) averages ")
        .append(String.format(Locale.ROOT, "%.3f", mean(rows, PlannerGrid.Row::eplbPlacement)))
        .append(" over the grid.\n");
    sb.append("\nExperts moved when the loads drift by ")
        .append(Math.round(100 * MIGRATION_NOISE))
        .append("% (each count × (1 + noise·N(0,1))) and the plan is redone; mean over ")
        .append(moves.size())
        .append(
            " cases (Zipf 0.8 and 1.2,\n64 and 256 experts, 8 and 16 nodes, 0 and 8 spare slots). A move is an (expert, node) pair\n")
        .append(
            "the rollout must load. \"with current\" never trades balance for moves; slack lets each layer's max\n")
        .append("node load be that much above the best found.\n\n")
        .append(
            "| spare slots | placements | EPLB rerun | balanced, fresh | with current | 0.1% slack | 1% slack |\n")
        .append("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int sp : new int[] {0, 8}) {
      List<PlannerGrid.MigrationRow> sel = moves.stream().filter(m -> m.c().spare() == sp).toList();
      if (sel.isEmpty()) {
        continue;
      }
      sb.append(
          String.format(
              Locale.ROOT,
              "| %d | %.0f | %.0f | %.0f (%.4f) | %.0f (%.4f) | %.0f (%.4f) | %.0f (%.4f) |%n",
              sp,
              avg(sel, PlannerGrid.MigrationRow::placements),
              avg(sel, PlannerGrid.MigrationRow::eplbRerunMoves),
              avg(sel, PlannerGrid.MigrationRow::freshMoves),
              avg(sel, PlannerGrid.MigrationRow::freshBalance),
              avg(sel, PlannerGrid.MigrationRow::strictMoves),
              avg(sel, PlannerGrid.MigrationRow::strictBalance),
              avg(sel, PlannerGrid.MigrationRow::slack01Moves),
              avg(sel, PlannerGrid.MigrationRow::slack01Balance),
              avg(sel, PlannerGrid.MigrationRow::slack1Moves),
              avg(sel, PlannerGrid.MigrationRow::slack1Balance)));
    }
    sb.append(
            "\n(balance in parentheses.) Produced by\n`java -cp loadtest/target/classes:$(cat loadtest/target/classpath.txt)")
        .append(
            " io.arrakis.loadtest.bench.PlannerBench`\nafter `mvn -o -pl loadtest -am package -DskipTests`;")
        .append(" every case is in `bench/results/placement-planner.json`.\n");
    return sb.toString();
  }

  private static void row(
      StringBuilder sb, String label, List<PlannerGrid.Row> rows, Predicate<PlannerGrid.Row> in) {
    List<PlannerGrid.Row> sel = rows.stream().filter(in).toList();
    long better = sel.stream().filter(PlannerGrid.Row::balancedBeatsEplb).count();
    sb.append(
        String.format(
            Locale.ROOT,
            "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %d / %d |%n",
            label,
            mean(sel, PlannerGrid.Row::contiguous),
            mean(sel, PlannerGrid.Row::roundRobin),
            mean(sel, PlannerGrid.Row::eplbAsIs),
            mean(sel, PlannerGrid.Row::balanced),
            mean(sel, PlannerGrid.Row::bound),
            better,
            sel.size()));
  }

  private static double mean(List<PlannerGrid.Row> rows, ToDoubleFunction<PlannerGrid.Row> f) {
    return round(rows.stream().mapToDouble(f).average().orElse(Double.NaN));
  }

  private static double avg(
      List<PlannerGrid.MigrationRow> rows, ToDoubleFunction<PlannerGrid.MigrationRow> f) {
    return rows.stream().mapToDouble(f).average().orElse(Double.NaN);
  }

  private static double round(double x) {
    return Math.round(x * 1e6) / 1e6;
  }

  private static String join(List<Integer> xs) {
    return xs.stream().map(String::valueOf).collect(Collectors.joining(", ", "{", "}"));
  }
}
