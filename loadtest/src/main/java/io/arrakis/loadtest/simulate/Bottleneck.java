package io.arrakis.loadtest.simulate;

import java.util.Locale;

/** Names the resource that limits a simulated configuration's throughput. */
final class Bottleneck {
  /** Below this busy fraction no resource limits: the offered load does. */
  static final double SATURATED = 0.80;

  /** A hottest node this far above the mean node is held back by hot experts, not by node count. */
  static final double HOT = 1.25;

  /** Router CPU spent mostly on per-call work means fan-out limits it. */
  static final double FAN_OUT = 0.5;

  private Bottleneck() {}

  /** Refusing more than this share of requests means admission control limits the load let in. */
  static final double REFUSING = 0.01;

  static String name(
      SimConfig c,
      SimResult.Utilisation u,
      double routerCallShare,
      double callsPerRequest,
      double refusedShare) {
    double node = u.hottestNode();
    double best = node;
    String what = "nodes";
    if (c.hardware().shared()) {
      if (u.hostCpu() > best) {
        best = u.hostCpu();
        what = "host";
      }
    } else {
      if (u.routerCpu() > best) {
        best = u.routerCpu();
        what = "router";
      }
      if (u.routerLink() > best) {
        best = u.routerLink();
        what = "router link";
      }
      if (u.nodeLink() > best) {
        best = u.nodeLink();
        what = "node link";
      }
    }
    if (best < SATURATED && u.inFlightSlots() >= SATURATED) {
      return String.format(
          Locale.ROOT,
          "node in-flight limit (%d calls per node and router; compute threads %s busy)",
          c.dispatch().maxInFlight(),
          percent(node));
    }
    if (best < SATURATED && refusedShare > REFUSING) {
      return String.format(
          Locale.ROOT,
          "router admission (%,d tokens in flight per router; %s of requests refused)",
          c.dispatch().admissionTokens(),
          percent(refusedShare));
    }
    if (best < SATURATED) {
      return c.workload().closedLoop()
          ? "offered load ("
              + c.workload().concurrency()
              + " callers; nothing else above "
              + percent(SATURATED)
              + ")"
          : "offered load ("
              + String.format(Locale.ROOT, "%,.0f", c.workload().ratePerSecond())
              + " requests/s)";
    }
    return switch (what) {
      case "host" ->
          String.format(
              Locale.ROOT,
              "host CPU (%.3g cores shared by router, nodes and clients)",
              c.hardware().hostCores());
      case "router" ->
          routerCallShare > FAN_OUT
              ? String.format(
                  Locale.ROOT,
                  "router CPU, fan-out (%.1f calls/request, %s of router CPU on calls)",
                  callsPerRequest,
                  percent(routerCallShare))
              : "router CPU";
      case "router link" -> "router link";
      case "node link" -> "node link";
      default ->
          u.meanNode() > 0 && node / u.meanNode() >= HOT
              ? String.format(
                  Locale.ROOT,
                  "hot experts (%s at %s, %.1fx the mean node)",
                  u.hottestNodeId(),
                  percent(node),
                  node / u.meanNode())
              : "expert nodes";
    };
  }

  private static String percent(double f) {
    return String.format(Locale.ROOT, "%.0f%%", 100 * f);
  }
}
