package io.arrakis.loadtest.simulate.calibrate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Windows of one load measured in pieces add up to one window. */
class ClusterMeterWindowTest {
  private static ClusterMeter.Window window(
      int concurrency, double seconds, long requests, double machineCpu) {
    return new ClusterMeter.Window(
        concurrency, 16, seconds, requests, requests / 2, requests, 1, 2, 0.5, 0.1, machineCpu, 0);
  }

  @Test
  void piecesAddUpToOneWindowOfTheirWholeTime() {
    ClusterMeter.Window a = window(16, 10, 1000, 5);
    ClusterMeter.Window b = window(16, 30, 1000, 7);

    ClusterMeter.Window both = a.plus(b);

    assertThat(both.seconds()).isEqualTo(40);
    assertThat(both.requests()).isEqualTo(2000);
    assertThat(both.calls()).isEqualTo(1000);
    // 2,000 requests of 16 tokens in 40 s, not the mean of 1,600 and 533 tokens/s
    assertThat(both.tokensPerSecond()).isCloseTo(800, within(1e-9));
    assertThat(both.routerCpu()).isEqualTo(2);
    assertThat(both.nodeCpu()).isEqualTo(4);
    // 12 CPU seconds of the machine, 7 of them the processes': 5 / 40 s of other programs
    assertThat(both.foreignCores()).isCloseTo(0.125, within(1e-9));
  }

  @Test
  void anUnknownMachineCpuStaysUnknown() {
    ClusterMeter.Window both = window(16, 10, 10, Double.NaN).plus(window(16, 10, 10, 5));

    assertThat(both.machineCpu()).isNaN();
    assertThat(both.foreignCores()).isZero();
  }

  @Test
  void windowsOfDifferentLoadsDoNotAdd() {
    assertThatThrownBy(() -> window(16, 10, 10, 1).plus(window(2, 10, 10, 1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("16 x 16 and 2 x 16");
  }
}
