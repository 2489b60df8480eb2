package io.arrakis.loadtest.simulate.calibrate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.condition.OS.LINUX;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;

class CpuClockTest {

  @Test
  @EnabledOnOs(LINUX)
  void aJvmThatHasRunCodeHasSpentSomeOfItsCpuOnItsJitCompilersAndNeverMoreThanAll() {
    long pid = ProcessHandle.current().pid();

    double compiling = CpuClock.compilation(pid);

    // the test framework alone compiles thousands of methods before this line runs
    assertThat(compiling).isPositive().isLessThanOrEqualTo(CpuClock.self());
    assertThat(CpuClock.selfCompilation()).isGreaterThanOrEqualTo(compiling);
  }

  @Test
  void aProcessThatDoesNotExistHasNoCompilerTime() {
    assertThat(CpuClock.compilation(Long.MAX_VALUE)).isZero();
  }

  @Test
  void aWindowIsQuietWhileTheCompilersTakeAtMostTwoPercentOfTheCpu() {
    ClusterMeter.Window quiet = window(0.98, 0.02);
    ClusterMeter.Window compiling = window(0.9, 0.1);

    assertThat(quiet.compilerShare()).isCloseTo(0.02, within(1e-9));
    assertThat(quiet.compilersQuiet()).isTrue();
    assertThat(compiling.compilersQuiet()).isFalse();
  }

  private static ClusterMeter.Window window(double serving, double compiling) {
    return new ClusterMeter.Window(
        16, 16, 5, 1000, 600, 32_000, serving / 2, serving / 4, serving / 4, compiling, 2.0, 0);
  }
}
