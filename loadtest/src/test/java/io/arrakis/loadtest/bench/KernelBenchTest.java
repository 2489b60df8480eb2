package io.arrakis.loadtest.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.kernel.Blas;
import java.util.List;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/** The bench runs the block it claims to and reports consistent figures (no timing is asserted). */
class KernelBenchTest {
  @Test
  void reportsOneResultPerTokenCountWithConsistentFigures() {
    List<KernelBench.Result> r =
        KernelBench.run(new KernelBench.Options(32, 48, 4, 2, List.of(1, 8), 1, 3, 1));
    assertThat(r).extracting(KernelBench.Result::tokens).containsExactly(1, 8);
    for (KernelBench.Result x : r) {
      assertThat(x.tokensPerS())
          .isCloseTo(x.tokens() / (x.medianMillis() / 1e3), Percentage.withPercentage(1e-6));
      assertThat(x.gflops()).isPositive();
      assertThat(x.cpuMedianMillis()).isPositive();
    }
    assertThat(Blas.threads()).isEqualTo(1);
  }

  @Test
  void refusesATopKLargerThanTheExperts() {
    assertThatThrownBy(() -> new KernelBench.Options(8, 8, 2, 3, List.of(1), 1, 1, 1))
        .hasMessageContaining("top-k");
  }
}
