package io.arrakis.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/** The SwiGLU gate against double-precision silu, and its row layout. */
class SwiGluTest {
  private static final double SILU_BOUND = 2.5e-7;

  private static double exactSilu(double x) {
    return x / (1 + Math.exp(-x));
  }

  private static double scaledError(float x) {
    return Math.abs(SwiGlu.silu(x) - exactSilu(x)) / Math.max(1, Math.abs(x));
  }

  /**
   * Every float in [-32, 32] at its finest spacing near 0 and on a 2^-12 grid elsewhere, then
   * beyond.
   */
  @Test
  void siluIsWithinItsBoundOfTheExactValue() {
    double worst = 0;
    float worstAt = 0;
    for (float x = -32f; x <= 32f; x += 1f / 4096) {
      double e = scaledError(x);
      if (e > worst) {
        worst = e;
        worstAt = x;
      }
    }
    for (int bits = Float.floatToIntBits(1e-30f);
        bits <= Float.floatToIntBits(1f / 4096);
        bits += 997) {
      float x = Float.intBitsToFloat(bits);
      worst = Math.max(worst, Math.max(scaledError(x), scaledError(-x)));
    }
    for (float x :
        new float[] {0f, -0f, 40f, -40f, 87f, -87f, 100f, -100f, 1e6f, -1e6f, 3e38f, -3e38f}) {
      worst = Math.max(worst, scaledError(x));
    }
    assertThat(worst)
        .as("worst |silu - exact| / max(1, |x|), at x = %s", worstAt)
        .isLessThanOrEqualTo(SILU_BOUND);
  }

  @Test
  void siluKeepsItsShape() {
    assertThat(SwiGlu.silu(0f)).isZero();
    assertThat(SwiGlu.silu(20f)).isBetween(20f * (1 - 2.5e-7f), 20f);
    assertThat(SwiGlu.silu(-20f)).isBetween(-20f * 2.5e-7f, 0f);
    assertThat(SwiGlu.tanh(1e-20f)).isBetween(1e-20f * (1 - 2.5e-7f), 1e-20f * (1 + 2.5e-7f));
    assertThat(SwiGlu.tanh(50f)).isBetween(1 - 2.5e-7f, 1f);
    assertThat(SwiGlu.tanh(-50f)).isEqualTo(-SwiGlu.tanh(50f));
  }

  /**
   * Rows [g | u] of width 2 ff: the first half of each becomes silu(g) · u, the second is left as
   * it was.
   */
  @Test
  void applyGatesTheFirstHalfOfEachRowWithItsSecondHalf() {
    int rows = 3;
    int ff = 37;
    SplittableRandom rnd = new SplittableRandom(7);
    float[] gu = new float[rows * 2 * ff];
    float[] before = new float[rows * 2 * ff];
    for (int i = 0; i < before.length; i++) {
      before[i] = (float) (rnd.nextGaussian() * 4);
      gu[i] = before[i];
    }

    SwiGlu.apply(gu, rows, ff, new float[ff + 5], new float[ff]);

    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < ff; j++) {
        float g = before[r * 2 * ff + j];
        float u = before[r * 2 * ff + ff + j];
        assertThat((double) gu[r * 2 * ff + j])
            .as("row %d col %d", r, j)
            .isCloseTo(exactSilu(g) * u, Offset.offset(1e-6 * Math.max(1, Math.abs(g * u))));
        assertThat(gu[r * 2 * ff + ff + j]).isEqualTo(u);
      }
    }
  }
}
