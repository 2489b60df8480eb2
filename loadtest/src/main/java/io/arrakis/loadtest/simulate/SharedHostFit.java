package io.arrakis.loadtest.simulate;

import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.model.placement.planner.Strategy;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * Measures the {@link Calibration.SharedHost} of the calibrating machine: the efficiency and
 * hand-off time with which the simulator, given the fitted CPU costs, reproduces the throughput the
 * runs of the 1-node calibration cluster measured (least squares of the log ratios). CPU costs
 * alone say what the work costs; these two say what sharing two cores among four processes costs
 * besides: without them the simulator put the calibration runs 1.2-1.5x above their measured
 * throughput wherever the host's cores, not one expert node's compute thread, set the pace.
 *
 * <p>The efficiency is only seen in runs that keep every core busy: calibrate with the node's
 * default compute threads (one per core) so that the runs with many callers do, and let the router
 * send the node two calls per compute thread, so that each thread finds its next call waiting (with
 * two calls for two threads each thread idled while its answer went back and the next call came,
 * and the fit took that for lost cores).
 */
public final class SharedHostFit {
  /** Processor sharing can only lose: below this the fit would explain something else away. */
  static final double MIN_EFFICIENCY = 0.4;

  /** Hand-offs that take longer than this are not the scheduler's doing. */
  static final double MAX_HAND_OFF_SECONDS = 1e-3;

  private static final int WARMUP_REQUESTS = 300;
  private static final int MEASURED_REQUESTS = 2_000;
  private static final int ROUNDS = 3;
  private static final int GOLDEN_STEPS = 14;

  /**
   * A measured closed-loop run of the calibration cluster.
   *
   * @param otherCores what other programs took of the machine meanwhile
   */
  public record Run(int concurrency, int tokens, double tokensPerSecond, double otherCores) {}

  /**
   * The calibration cluster: one router, one expert node with {@code computeThreads} that the
   * router sends up to {@code maxInFlight} calls at once, and the load driver, on a machine of
   * {@code cores} cores; requests go to {@code layers} layers in turn, their experts drawn with
   * Zipf exponent {@code skew}.
   */
  public record Cluster(int cores, int computeThreads, int maxInFlight, int layers, double skew) {}

  /** The fitted host and, per run, simulated ÷ measured throughput with it. */
  public record Result(Calibration.SharedHost host, List<Double> ratios) {}

  private final Calibration costs;
  private final List<Run> runs;
  private final Cluster cluster;

  private SharedHostFit(Calibration costs, List<Run> runs, Cluster cluster) {
    this.costs = costs;
    this.runs = List.copyOf(runs);
    this.cluster = cluster;
  }

  /**
   * Fits the host to {@code runs}; the efficiency and hand-off time in {@code costs} are ignored.
   */
  public static Result fit(Calibration costs, List<Run> runs, Cluster cluster) {
    if (runs.isEmpty()) {
      throw new IllegalArgumentException("fitting the shared host needs measured runs");
    }
    return new SharedHostFit(costs, runs, cluster).search();
  }

  /** Coordinate descent: golden-section searches on each parameter in turn. */
  private Result search() {
    double efficiency = 1;
    double handOff = 0;
    for (int round = 0; round < ROUNDS; round++) {
      double h = handOff;
      efficiency = golden(e -> error(e, h), MIN_EFFICIENCY, 1);
      double e = efficiency;
      handOff = golden(l -> error(e, l), 0, MAX_HAND_OFF_SECONDS);
    }
    Calibration.SharedHost host = new Calibration.SharedHost(efficiency, handOff);
    return new Result(host, runs.stream().map(r -> ratio(host, r)).toList());
  }

  private double error(double efficiency, double handOff) {
    Calibration.SharedHost host = new Calibration.SharedHost(efficiency, handOff);
    double sum = 0;
    for (Run r : runs) {
      double log = Math.log(ratio(host, r));
      sum += log * log;
    }
    return sum;
  }

  private double ratio(Calibration.SharedHost host, Run r) {
    SimConfig config =
        new SimConfig(
            new SimConfig.Shape(
                1, 1, costs.model().experts(), costs.model().topK(), cluster.layers()),
            SimConfig.Layout.of(Strategy.CONTIGUOUS),
            new SimConfig.Dispatch(
                cluster.maxInFlight(),
                SimConfig.Dispatch.DEFAULTS.maxBatchTokens(),
                SimConfig.Dispatch.DEFAULTS.admissionTokens()),
            SimConfig.Hardware.localHost(cluster.cores(), cluster.computeThreads())
                .withHostCores(Math.max(0.1, cluster.cores() - r.otherCores())),
            SimConfig.Workload.closed(
                cluster.skew(),
                TokenCounts.fixed(r.tokens()),
                r.concurrency(),
                WARMUP_REQUESTS,
                MEASURED_REQUESTS),
            1);
    return Simulation.run(config, costs.withHost(host)).tokensPerSecond() / r.tokensPerSecond();
  }

  /** The minimum of {@code f} on [lo, hi], to within its GOLDEN_STEPS-th narrowing. */
  private static double golden(DoubleUnaryOperator f, double lo, double hi) {
    double phi = (Math.sqrt(5) - 1) / 2;
    double a = lo;
    double b = hi;
    double c = b - phi * (b - a);
    double d = a + phi * (b - a);
    double fc = f.applyAsDouble(c);
    double fd = f.applyAsDouble(d);
    for (int i = 0; i < GOLDEN_STEPS; i++) {
      if (fc <= fd) {
        b = d;
        d = c;
        fd = fc;
        c = b - phi * (b - a);
        fc = f.applyAsDouble(c);
      } else {
        a = c;
        c = d;
        fc = fd;
        d = a + phi * (b - a);
        fd = f.applyAsDouble(d);
      }
    }
    double best = fc <= fd ? c : d;
    double least = Math.min(fc, fd);
    // the ends themselves: golden section never evaluates them, and 1 (no loss) is a common answer
    for (double end : new double[] {lo, hi}) {
      double fe = f.applyAsDouble(end);
      if (fe <= least) {
        best = end;
        least = fe;
      }
    }
    return best;
  }
}
