package io.arrakis.loadtest.simulate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.model.placement.planner.Strategy;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The simulator against queueing results that can be worked out by hand. */
class SimulationTest {
  private static final double EXPERT_S = 0.001;

  /**
   * Only the expert kernel costs anything: 1 ms per expert call whatever its rows (weights
   * dominate).
   */
  static Calibration kernelOnly() {
    return costs(
        List.of(new Calibration.Point(1, EXPERT_S), new Calibration.Point(4096, EXPERT_S)),
        new Calibration.RouterCosts(0, 0, 0, 0),
        new Calibration.NodeCosts(0, 0),
        new Calibration.ClientCosts(0, 0));
  }

  static Calibration costs(
      List<Calibration.Point> expert,
      Calibration.RouterCosts router,
      Calibration.NodeCosts node,
      Calibration.ClientCosts client) {
    return new Calibration(
        new Calibration.ModelSizes(64, 128, 8, 1),
        expert,
        router,
        node,
        client,
        Calibration.SharedHost.IDEAL,
        new Calibration.Source("test", 1, "", "made up for a test"));
  }

  /** Separate machines with links too fast to matter. */
  static SimConfig.Hardware fastLinks(int nodeCores, int computeThreads) {
    return new SimConfig.Hardware(nodeCores, computeThreads, 16, 0, 1e6, 1e6, 0);
  }

  static SimConfig config(
      int nodes,
      int experts,
      int topK,
      double skew,
      Strategy strategy,
      SimConfig.Dispatch dispatch,
      SimConfig.Hardware hw,
      SimConfig.Workload w) {
    return new SimConfig(
        new SimConfig.Shape(nodes, 1, experts, topK, 1),
        SimConfig.Layout.of(strategy),
        dispatch,
        hw,
        w,
        42);
  }

  @Test
  void oneCallerAtATimeGetsOneOverTheServiceTime() {
    SimConfig c =
        config(
            1,
            1,
            1,
            0,
            Strategy.CONTIGUOUS,
            SimConfig.Dispatch.DEFAULTS,
            fastLinks(1, 1),
            SimConfig.Workload.closed(0, TokenCounts.fixed(1), 1, 10, 2_000));

    SimResult r = Simulation.run(c, kernelOnly());

    assertThat(r.requestsPerSecond()).isCloseTo(1 / EXPERT_S, within(1e-6 / EXPERT_S));
    assertThat(r.p99Millis()).isCloseTo(EXPERT_S * 1e3, within(1e-6));
    assertThat(r.callsPerRequest()).isEqualTo(1.0);
  }

  /**
   * Calls of one row each (max batch 1) on one compute thread: the node serves 1 / service time,
   * fully busy.
   */
  @Test
  void aSaturatedNodeServesOneOverTheServiceTime() {
    SimConfig c =
        config(
            1,
            1,
            1,
            0,
            Strategy.CONTIGUOUS,
            new SimConfig.Dispatch(2, 1, 1 << 20),
            fastLinks(1, 1),
            SimConfig.Workload.closed(0, TokenCounts.fixed(1), 32, 200, 5_000));

    SimResult r = Simulation.run(c, kernelOnly());

    assertThat(r.requestsPerSecond()).isCloseTo(1 / EXPERT_S, within(0.001 / EXPERT_S));
    assertThat(r.utilisation().hottestNode()).isCloseTo(1.0, within(0.001));
    assertThat(r.bottleneck()).isEqualTo("expert nodes");
    // Little's law: 32 callers at 1,000 requests/s wait 32 ms each
    assertThat(r.meanMillis()).isCloseTo(32.0, within(0.1));
  }

  /**
   * A node with 8 compute threads computes one call per thread, and the router sends it at most
   * node-max-in-flight (2) at once: 2 calls per service time, a quarter of its threads busy.
   */
  @Test
  void aNodeComputesNoMoreCallsAtOnceThanTheRouterHasInFlight() {
    SimConfig c =
        config(
            1,
            1,
            1,
            0,
            Strategy.CONTIGUOUS,
            new SimConfig.Dispatch(2, 1, 1 << 20),
            fastLinks(8, 8),
            SimConfig.Workload.closed(0, TokenCounts.fixed(1), 64, 500, 10_000));

    SimResult r = Simulation.run(c, kernelOnly());

    assertThat(r.requestsPerSecond()).isCloseTo(2 / EXPERT_S, within(0.01 * 2 / EXPERT_S));
    assertThat(r.utilisation().hottestNode()).isCloseTo(0.25, within(0.005));
    assertThat(r.utilisation().inFlightSlots()).isCloseTo(1.0, within(0.005));
    assertThat(r.bottleneck()).startsWith("node in-flight limit");
  }

  /**
   * 160 admitted tokens are 10 requests of 16 in flight: 10 per service time, whatever the callers.
   */
  @Test
  void admissionControlCapsRequestsInFlight() {
    SimConfig c =
        config(
            1,
            1,
            1,
            0,
            Strategy.CONTIGUOUS,
            new SimConfig.Dispatch(64, 16, 160),
            fastLinks(64, 64),
            SimConfig.Workload.closed(0, TokenCounts.fixed(16), 100, 500, 10_000));

    SimResult r = Simulation.run(c, kernelOnly());

    assertThat(r.requestsPerSecond()).isCloseTo(10 / EXPERT_S, within(0.02 * 10 / EXPERT_S));
    assertThat(r.refused()).isPositive();
    assertThat(r.bottleneck()).startsWith("router admission");
  }

  /** Poisson arrivals at a single deterministic server (M/D/1): mean wait ρ·s / (2(1 − ρ)). */
  @Test
  void openLoopQueueMatchesMD1() {
    double rho = 0.7;
    SimConfig c =
        config(
            1,
            1,
            1,
            0,
            Strategy.CONTIGUOUS,
            new SimConfig.Dispatch(1 << 20, 1, 1 << 30),
            fastLinks(1, 1),
            SimConfig.Workload.open(0, TokenCounts.fixed(1), rho / EXPERT_S, 2_000, 200_000));

    SimResult r = Simulation.run(c, kernelOnly());

    double expectedMillis = (EXPERT_S + rho * EXPERT_S / (2 * (1 - rho))) * 1e3;
    assertThat(r.meanMillis()).isCloseTo(expectedMillis, within(0.03 * expectedMillis));
    assertThat(r.requestsPerSecond()).isCloseTo(rho / EXPERT_S, within(0.02 * rho / EXPERT_S));
    assertThat(r.utilisation().hottestNode()).isCloseTo(rho, within(0.02));
    assertThat(r.bottleneck()).startsWith("offered load");
  }

  /**
   * Even popularity, enough callers per node and work in proportion to rows (so that batching
   * neither helps nor hurts): 8 nodes serve about 8 times what 1 does.
   */
  @Test
  void moreNodesUnderUniformLoadScaleThroughput() {
    double one = uniform(1).tokensPerSecond();
    double eight = uniform(8).tokensPerSecond();

    assertThat(eight / one).isBetween(6.5, 8.5);
  }

  private static SimResult uniform(int nodes) {
    SimConfig c =
        config(
            nodes,
            64,
            2,
            0,
            Strategy.ROUND_ROBIN,
            SimConfig.Dispatch.DEFAULTS,
            fastLinks(1, 1),
            SimConfig.Workload.closed(
                0, TokenCounts.fixed(8), 32 * nodes, 500 * nodes, 3_000 * nodes));
    Calibration perRow =
        costs(
            List.of(new Calibration.Point(1, EXPERT_S)),
            new Calibration.RouterCosts(0, 0, 0, 0),
            new Calibration.NodeCosts(0, 0),
            new Calibration.ClientCosts(0, 0));
    return Simulation.run(c, perRow);
  }

  /**
   * Top-1 with a steep skew: the hottest expert takes most tokens, so its one node caps the cluster
   * whatever the node count; the planner's replicas of it lift the cap.
   */
  @Test
  void aHotExpertCapsThroughputUntilItIsReplicated() {
    SimConfig.Workload w = SimConfig.Workload.closed(2.0, TokenCounts.fixed(1), 256, 2_000, 20_000);
    SimConfig.Dispatch oneRowCalls = new SimConfig.Dispatch(2, 1, 1 << 20);
    SimResult four =
        Simulation.run(
            config(4, 16, 1, 2.0, Strategy.CONTIGUOUS, oneRowCalls, fastLinks(1, 1), w),
            kernelOnly());
    SimResult sixteen =
        Simulation.run(
            config(16, 16, 1, 2.0, Strategy.CONTIGUOUS, oneRowCalls, fastLinks(1, 1), w),
            kernelOnly());
    SimResult balanced =
        Simulation.run(
            config(16, 16, 1, 2.0, Strategy.BALANCED, oneRowCalls, fastLinks(1, 1), w),
            kernelOnly());

    // Zipf(2) over 16 experts: the top expert draws 1 / Σ r^-2 ≈ 62% of tokens; its node serves
    // 1,000 calls/s
    double share = 1 / IntStream.rangeClosed(1, 16).mapToDouble(r -> Math.pow(r, -2)).sum();
    assertThat(sixteen.requestsPerSecond())
        .isCloseTo(1 / EXPERT_S / share, within(0.05 / EXPERT_S / share));
    assertThat(sixteen.requestsPerSecond()).isLessThan(1.1 * four.requestsPerSecond());
    assertThat(sixteen.bottleneck()).startsWith("hot experts");
    assertThat(balanced.requestsPerSecond()).isGreaterThan(2.5 * sixteen.requestsPerSecond());
  }

  /**
   * A router spending 1 ms of CPU per request on 16 cores tops out at 16,000 requests/s, however
   * many nodes.
   */
  @Test
  void routerCpuCapsThroughput() {
    Calibration c =
        costs(
            List.of(new Calibration.Point(1, 1e-6)),
            new Calibration.RouterCosts(0.001, 0, 0, 0),
            new Calibration.NodeCosts(0, 0),
            new Calibration.ClientCosts(0, 0));
    SimResult r =
        Simulation.run(
            config(
                64,
                64,
                2,
                0,
                Strategy.ROUND_ROBIN,
                SimConfig.Dispatch.DEFAULTS,
                fastLinks(8, 8),
                SimConfig.Workload.closed(0, TokenCounts.fixed(4), 256, 5_000, 50_000)),
            c);

    assertThat(r.requestsPerSecond()).isCloseTo(16_000, within(160.0));
    assertThat(r.bottleneck()).isEqualTo("router CPU");
  }

  /** Per-call router work with a wide fan-out: the router is the limit, and the report says why. */
  @Test
  void fanOutShowsAsRouterCallWork() {
    Calibration c =
        costs(
            List.of(new Calibration.Point(1, 1e-6)),
            new Calibration.RouterCosts(0, 0, 0, 0.0005),
            new Calibration.NodeCosts(0, 0),
            new Calibration.ClientCosts(0, 0));
    SimResult r =
        Simulation.run(
            config(
                64,
                64,
                8,
                0,
                Strategy.ROUND_ROBIN,
                SimConfig.Dispatch.DEFAULTS,
                fastLinks(8, 8),
                SimConfig.Workload.closed(0, TokenCounts.fixed(16), 64, 1_000, 4_000)),
            c);

    assertThat(r.callsPerRequest()).isGreaterThan(2);
    assertThat(r.bottleneck()).startsWith("router CPU, fan-out");
  }

  /** A 1 Gb/s router link carrying 4 KiB rows: about 15,000 tokens/s. */
  @Test
  void slowRouterLinkCapsThroughput() {
    Calibration c =
        new Calibration(
            new Calibration.ModelSizes(1024, 128, 8, 1),
            List.of(new Calibration.Point(1, 1e-7)),
            new Calibration.RouterCosts(0, 0, 0, 0),
            new Calibration.NodeCosts(0, 0),
            new Calibration.ClientCosts(0, 0),
            Calibration.SharedHost.IDEAL,
            new Calibration.Source("test", 1, "", ""));
    SimConfig.Hardware hw = new SimConfig.Hardware(8, 8, 16, 0, 100, 1, 0);
    SimResult r =
        Simulation.run(
            config(
                4,
                8,
                1,
                0,
                Strategy.CONTIGUOUS,
                SimConfig.Dispatch.DEFAULTS,
                hw,
                SimConfig.Workload.closed(0, TokenCounts.fixed(16), 64, 500, 5_000)),
            c);

    // each token crosses the router's link out twice (to a node, back to the client) and in twice
    double bytesPerToken = 2 * 1024 * 4;
    assertThat(r.tokensPerSecond())
        .isLessThan(1e9 / 8 / bytesPerToken)
        .isGreaterThan(0.9 * 1e9 / 8 / bytesPerToken);
    assertThat(r.bottleneck()).isEqualTo("router link");
  }

  /** Costs in every process: router, node, experts and client all take CPU on a shared host. */
  private static Calibration everyProcessBusy() {
    return costs(
        List.of(new Calibration.Point(1, 0.002), new Calibration.Point(64, 0.004)),
        new Calibration.RouterCosts(0.001, 1e-5, 0, 0.0005),
        new Calibration.NodeCosts(0.0005, 1e-5),
        new Calibration.ClientCosts(0.0005, 1e-6));
  }

  /**
   * On one shared machine, throughput cannot pass cores ÷ CPU per request, and gets close under
   * enough load.
   */
  @Test
  void aSharedHostIsBoundByItsCores() {
    Calibration c = everyProcessBusy();
    SimResult r =
        Simulation.run(
            config(
                2,
                8,
                2,
                1.0,
                Strategy.CONTIGUOUS,
                SimConfig.Dispatch.DEFAULTS,
                SimConfig.Hardware.localHost(2, 2),
                SimConfig.Workload.closed(1.0, TokenCounts.fixed(16), 16, 500, 4_000)),
            c);

    double bound = 2 / r.cpuPerRequest().total();
    assertThat(r.requestsPerSecond())
        .isLessThanOrEqualTo(bound * 1.001)
        .isGreaterThan(0.95 * bound);
    assertThat(r.utilisation().hostCpu()).isGreaterThan(0.95);
    assertThat(r.bottleneck()).startsWith("host CPU");
  }

  /**
   * A shared host's efficiency takes its share of the cores away, and each hand-off between the
   * processes (client to router, router to node and back, router to client) adds its time to a
   * request.
   */
  @Test
  void aSharedHostDoesItsWorkOnItsEfficiencysShareOfTheCoresAndHandsOffSlowly() {
    Calibration ideal = everyProcessBusy();
    Calibration halfSlow = ideal.withHost(new Calibration.SharedHost(0.5, 0.001));
    SimConfig busy =
        config(
            2,
            8,
            2,
            1.0,
            Strategy.CONTIGUOUS,
            SimConfig.Dispatch.DEFAULTS,
            SimConfig.Hardware.localHost(2, 2),
            SimConfig.Workload.closed(1.0, TokenCounts.fixed(16), 16, 500, 4_000));

    SimResult r = Simulation.run(busy, halfSlow);

    double bound = 2 * 0.5 / r.cpuPerRequest().total();
    assertThat(r.requestsPerSecond())
        .isLessThanOrEqualTo(bound * 1.001)
        .isGreaterThan(0.95 * bound);

    SimConfig alone =
        busy.withWorkload(SimConfig.Workload.closed(1.0, TokenCounts.fixed(16), 1, 100, 1_000));
    double idealMillis = Simulation.run(alone, ideal).meanMillis();
    double slowMillis =
        Simulation.run(alone, ideal.withHost(new Calibration.SharedHost(1, 0.001))).meanMillis();
    // one caller: four hand-offs in a row a request (the two nodes' calls go out side by side)
    assertThat(slowMillis - idealMillis).isCloseTo(4.0, within(0.05));
  }

  @Test
  void sameSeedSameResultOtherSeedOtherResult() {
    SimConfig c =
        config(
            4,
            16,
            2,
            1.0,
            Strategy.BALANCED,
            SimConfig.Dispatch.DEFAULTS,
            fastLinks(1, 1),
            SimConfig.Workload.open(1.0, TokenCounts.parse("1-32"), 3_000, 500, 5_000));

    SimResult a = Simulation.run(c, kernelOnly());
    SimResult b = Simulation.run(c, kernelOnly());
    SimResult other = Simulation.run(c.withSeed(43), kernelOnly());

    assertThat(b).isEqualTo(a);
    assertThat(other.p99Millis()).isNotEqualTo(a.p99Millis());
  }
}
