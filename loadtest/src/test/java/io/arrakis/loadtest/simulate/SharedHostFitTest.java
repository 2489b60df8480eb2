package io.arrakis.loadtest.simulate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.model.placement.planner.Strategy;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The shared host is found from throughput alone: runs "measured" by simulating a known host give
 * that host back.
 */
class SharedHostFitTest {
  private static final Calibration COSTS =
      SimulationTest.costs(
          List.of(new Calibration.Point(1, 0.0001), new Calibration.Point(64, 0.0008)),
          new Calibration.RouterCosts(0.0002, 4e-6, 0, 0.0003),
          new Calibration.NodeCosts(0.0003, 3e-6),
          new Calibration.ClientCosts(0.0002, 1e-6));

  private static final SharedHostFit.Cluster CLUSTER = new SharedHostFit.Cluster(2, 2, 4, 2, 1.0);

  /**
   * The calibration's default runs, as the 1-node cluster would have measured them on {@code host}.
   */
  private static List<SharedHostFit.Run> measuredOn(Calibration.SharedHost host) {
    return List.of(run(host, 16, 64), run(host, 16, 16), run(host, 2, 16), run(host, 2, 1));
  }

  private static SharedHostFit.Run run(Calibration.SharedHost host, int callers, int tokens) {
    SimConfig config =
        new SimConfig(
            new SimConfig.Shape(1, 1, 8, 1, CLUSTER.layers()),
            SimConfig.Layout.of(Strategy.CONTIGUOUS),
            new SimConfig.Dispatch(CLUSTER.maxInFlight(), 4096, 16384),
            SimConfig.Hardware.localHost(CLUSTER.cores(), CLUSTER.computeThreads()),
            SimConfig.Workload.closed(
                CLUSTER.skew(), TokenCounts.fixed(tokens), callers, 300, 4_000),
            7); // another seed than the fit's: other draws of the same load
    double tokensPerSecond = Simulation.run(config, COSTS.withHost(host)).tokensPerSecond();
    return new SharedHostFit.Run(callers, tokens, tokensPerSecond, 0);
  }

  @Test
  void aHostThatLosesCoresAndWakesSlowlyIsMeasuredAsSuch() {
    Calibration.SharedHost truth = new Calibration.SharedHost(0.8, 150e-6);

    SharedHostFit.Result fit = SharedHostFit.fit(COSTS, measuredOn(truth), CLUSTER);

    assertThat(fit.host().efficiency()).isCloseTo(0.8, within(0.04));
    assertThat(fit.host().handOffSeconds()).isCloseTo(150e-6, within(40e-6));
    assertThat(fit.ratios()).hasSize(4).allSatisfy(r -> assertThat(r).isCloseTo(1, within(0.04)));
  }

  @Test
  void processorSharingItselfIsFoundIdeal() {
    SharedHostFit.Result fit =
        SharedHostFit.fit(COSTS, measuredOn(Calibration.SharedHost.IDEAL), CLUSTER);

    assertThat(fit.host().efficiency()).isGreaterThan(0.96);
    assertThat(fit.host().handOffSeconds()).isLessThan(15e-6);
  }

  @Test
  void withoutTheSharedHostTheSimulatorOverestimatesTheSlowHost() {
    // what the fit is for: CPU costs alone put such a host's runs well above what it measured
    List<SharedHostFit.Run> slow = measuredOn(new Calibration.SharedHost(0.8, 150e-6));
    List<SharedHostFit.Run> ideal = measuredOn(Calibration.SharedHost.IDEAL);
    for (int i = 0; i < slow.size(); i++) {
      assertThat(ideal.get(i).tokensPerSecond() / slow.get(i).tokensPerSecond()).isGreaterThan(1.1);
    }
  }
}
