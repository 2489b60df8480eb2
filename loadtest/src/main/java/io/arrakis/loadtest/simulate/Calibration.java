package io.arrakis.loadtest.simulate;

import java.util.Comparator;
import java.util.List;

/**
 * What work costs, in CPU seconds, as measured on one machine by {@code simulate calibrate}: the
 * simulator's only link to real hardware. Costs are CPU time (not wall time), so that they hold
 * whether or not the machine was busy with other work while they were measured.
 *
 * @param model the model sizes the costs were measured for
 * @param expert CPU seconds of one expert's SwiGLU block over m rows (gather, three GEMMs, weighted
 *     scatter), at several m; interpolated linearly between points and extrapolated from the last
 *     two
 * @param router per-request, per-token and per-call CPU at a router
 * @param node per-call and per-row CPU at an expert node outside the expert kernels (transport,
 *     decoding, checks, encoding)
 * @param client per-request and per-token CPU of the load generator (only counts where it shares
 *     the machine, as in a local cluster)
 * @param host how the calibrating machine shares its cores among the processes of a local cluster
 *     (only counts where they share one machine)
 * @param source where the figures come from: the machine, the date, the measured runs
 */
public record Calibration(
    ModelSizes model,
    List<Point> expert,
    RouterCosts router,
    NodeCosts node,
    ClientCosts client,
    SharedHost host,
    Source source) {

  /** Hidden size, expert FFN size, experts per layer and top-k of the calibrated model. */
  public record ModelSizes(int hidden, int ffn, int experts, int topK) {
    public ModelSizes {
      if (hidden < 1 || ffn < 1 || experts < 1 || topK < 1 || topK > experts) {
        throw new IllegalArgumentException(
            "model sizes must be positive with top-k <= experts, got hidden "
                + hidden
                + ", ffn "
                + ffn
                + ", experts "
                + experts
                + ", top-k "
                + topK);
      }
    }
  }

  /** CPU seconds of one expert over {@code rows} rows. */
  public record Point(int rows, double seconds) {}

  /**
   * CPU seconds a router spends.
   *
   * @param requestSeconds per Forward call: receive, decode, check, plan, combine, reply
   * @param tokenSeconds per token of a Forward call, the gate excepted
   * @param gateSecondsPerTokenExpert the gate's GEMM and top-k, per token and expert of the layer
   * @param callSeconds per Compute call to an expert node: assemble, send, receive, split
   */
  public record RouterCosts(
      double requestSeconds,
      double tokenSeconds,
      double gateSecondsPerTokenExpert,
      double callSeconds) {}

  /**
   * CPU seconds an expert node spends.
   *
   * @param callSeconds per Compute call, on a transport thread: receive, parse, check, hand to a
   *     compute thread, reply
   * @param rowSeconds per row (token) of a Compute call, on the compute thread: decode, check
   *     values, encode
   */
  public record NodeCosts(double callSeconds, double rowSeconds) {}

  /**
   * CPU seconds the load-generating client spends.
   *
   * @param requestSeconds per request sent and answered
   * @param tokenSeconds per token of it
   */
  public record ClientCosts(double requestSeconds, double tokenSeconds) {}

  /**
   * What processor sharing alone misses when router, expert nodes and load driver share one
   * machine, measured by {@code simulate calibrate} as what makes the simulated throughput of its
   * runs agree with the measured one (CPU costs alone left it 1.2-1.5x too high on two cores).
   *
   * @param efficiency share of the cores the processes get when more threads want to run than there
   *     are cores: the rest goes to switching between them, to the caches and memory they evict for
   *     each other, and to moments when every thread waits for another to be woken (0 < e <= 1)
   * @param handOffSeconds the time a message between two of the processes takes besides the CPU of
   *     sending and receiving it: the receiving thread's wake-up on a busy machine
   */
  public record SharedHost(double efficiency, double handOffSeconds) {
    /** Processor sharing exactly: every core-second is work, every hand-off instant. */
    public static final SharedHost IDEAL = new SharedHost(1, 0);

    public SharedHost {
      if (!(efficiency > 0 && efficiency <= 1)
          || !(handOffSeconds >= 0)
          || Double.isInfinite(handOffSeconds)) {
        throw new IllegalArgumentException(
            "shared host: efficiency must be in (0, 1] and the hand-off time finite and"
                + " non-negative, got "
                + efficiency
                + " and "
                + handOffSeconds);
      }
    }
  }

  /**
   * Where and when the calibration was measured.
   *
   * @param machine CPU model and cores
   * @param measuredAt ISO date-time
   * @param note how it was measured
   */
  public record Source(String machine, int cores, String measuredAt, String note) {}

  public Calibration {
    if (expert == null || expert.isEmpty()) {
      throw new IllegalArgumentException("calibration has no expert timings");
    }
    expert = expert.stream().sorted(Comparator.comparingInt(Point::rows)).toList();
    for (int i = 0; i < expert.size(); i++) {
      Point p = expert.get(i);
      if (p.rows() < 1 || !(p.seconds() > 0) || Double.isInfinite(p.seconds())) {
        throw new IllegalArgumentException(
            "expert timing " + p + " must have rows >= 1 and a positive time");
      }
      if (i > 0 && p.rows() == expert.get(i - 1).rows()) {
        throw new IllegalArgumentException("expert timings list " + p.rows() + " rows twice");
      }
    }
    nonNegative(
        "router",
        router.requestSeconds(),
        router.tokenSeconds(),
        router.gateSecondsPerTokenExpert(),
        router.callSeconds());
    nonNegative("node", node.callSeconds(), node.rowSeconds());
    nonNegative("client", client.requestSeconds(), client.tokenSeconds());
  }

  private static void nonNegative(String what, double... values) {
    for (double v : values) {
      if (!(v >= 0) || Double.isInfinite(v)) {
        throw new IllegalArgumentException(
            what + " costs must be finite and non-negative, got " + v);
      }
    }
  }

  /** The same costs, with {@code shared} as the shared host. */
  public Calibration withHost(SharedHost shared) {
    return new Calibration(model, expert, router, node, client, shared, source);
  }

  /** CPU seconds of one expert over {@code rows} rows (0 for none). */
  public double expertSeconds(int rows) {
    return interpolate(expert, rows);
  }

  /**
   * Linear between measured points, linear beyond the last two; below the first point the first
   * point's time (an expert's weights are read once however few rows).
   */
  public static double interpolate(List<Point> points, int rows) {
    if (rows <= 0) {
      return 0;
    }
    Point first = points.get(0);
    if (points.size() == 1) {
      return first.seconds() * rows / first.rows();
    }
    if (rows <= first.rows()) {
      return first.seconds();
    }
    for (int i = 1; i < points.size(); i++) {
      Point hi = points.get(i);
      if (rows <= hi.rows() || i == points.size() - 1) {
        Point lo = points.get(i - 1);
        double slope = (hi.seconds() - lo.seconds()) / (hi.rows() - lo.rows());
        return Math.max(first.seconds(), lo.seconds() + slope * (rows - lo.rows()));
      }
    }
    throw new AssertionError("unreachable");
  }

  /** Router CPU per token of a layer with {@code experts} experts: the gate grows with them. */
  public double routerTokenSeconds(int experts) {
    return router.tokenSeconds() + router.gateSecondsPerTokenExpert() * experts;
  }
}
