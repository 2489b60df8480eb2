package io.arrakis.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.testing.Naive;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The SwiGLU expert and the weighted combine, on many seeded random shapes and weights (float32 and
 * bfloat16), against plain double-precision loops.
 */
class ExpertKernelPropertyTest {
  private static final double REL_TOL = 1e-4;

  /** An expert's weights as Mixtral stores them, and its kernel. */
  private record Expert(float[][] w1, float[][] w3, float[][] w2, ExpertKernel kernel) {
    static Expert random(SplittableRandom rnd, int d, int ff, boolean bf16) {
      float[][] w1 = Naive.gaussian(rnd, ff, d, 1 / Math.sqrt(d), bf16);
      float[][] w3 = Naive.gaussian(rnd, ff, d, 1 / Math.sqrt(d), bf16);
      float[][] w2 = Naive.gaussian(rnd, d, ff, 1 / Math.sqrt(ff), bf16);
      return new Expert(
          w1,
          w3,
          w2,
          ExpertKernel.fromHf(Naive.nd(w1, bf16), Naive.nd(w3, bf16), Naive.nd(w2, bf16)));
    }

    double[] naive(float[] x) {
      return Naive.expert(w1, w3, w2, x);
    }
  }

  static IntStream kernelCases() {
    return IntStream.range(0, 120);
  }

  @ParameterizedTest(name = "case {0}")
  @MethodSource("kernelCases")
  void applyEqualsNaiveSwiGluOnEveryRow(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0x5EED_0000L + caseNo);
    int d = 1 + rnd.nextInt(48);
    int ff = 1 + rnd.nextInt(48);
    int n = 1 + rnd.nextInt(48);
    boolean bf16 = rnd.nextBoolean();
    Expert e = Expert.random(rnd, d, ff, bf16);
    float[][] x = Naive.gaussian(rnd, n, d, 1 + 2 * rnd.nextDouble(), false);

    INDArray y = e.kernel().apply(Nd4j.createFromArray(x));

    double[][] want = new double[n][];
    for (int i = 0; i < n; i++) {
      want[i] = e.naive(x[i]);
    }
    assertThat(y.dataType()).isEqualTo(DataType.FLOAT);
    assertThat(y.shape()).containsExactly(n, d);
    assertThat(e.kernel().hiddenSize()).isEqualTo(d);
    assertThat(e.kernel().ffnSize()).isEqualTo(ff);
    assertThat(e.kernel().weightBytes()).isEqualTo(3L * d * ff * 4);
    double tol = REL_TOL * Naive.maxAbs(want);
    assertThat(Naive.maxAbsDiff(Naive.rows(y), want))
        .as("case %d: d=%d ff=%d n=%d bf16=%s, tolerance %s", caseNo, d, ff, n, bf16, tol)
        .isLessThanOrEqualTo(tol);
  }

  static IntStream singleRowCases() {
    return IntStream.range(0, 20);
  }

  /** One row goes through GEMVs rather than GEMMs: the same SwiGLU, the same tolerance. */
  @ParameterizedTest(name = "case {0}")
  @MethodSource("singleRowCases")
  void aSingleRowEqualsNaiveSwiGlu(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0x0E_0000L + caseNo);
    int d = 1 + rnd.nextInt(300);
    int ff = 1 + rnd.nextInt(300);
    boolean bf16 = rnd.nextBoolean();
    Expert e = Expert.random(rnd, d, ff, bf16);
    float[][] x = Naive.gaussian(rnd, 1, d, 1 + 2 * rnd.nextDouble(), false);

    INDArray y = e.kernel().apply(Nd4j.createFromArray(x));

    double[][] want = {e.naive(x[0])};
    double tol = REL_TOL * Naive.maxAbs(want);
    assertThat(y.shape()).containsExactly(1, d);
    assertThat(Naive.maxAbsDiff(Naive.rows(y), want))
        .as("case %d: d=%d ff=%d bf16=%s, tolerance %s", caseNo, d, ff, bf16, tol)
        .isLessThanOrEqualTo(tol);
  }

  static IntStream combineCases() {
    return IntStream.range(0, 60);
  }

  /**
   * Work items pick experts (possibly the same one twice), rows in any order, a row subset, all
   * rows in order, or no rows; each row of the result is Σ weight × expert(row) over the items
   * listing it, and zero for rows no item lists.
   */
  @ParameterizedTest(name = "case {0}")
  @MethodSource("combineCases")
  void combineEqualsNaiveWeightedSumPerRow(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0xC0DE_0000L + caseNo);
    int d = 1 + rnd.nextInt(32);
    int ff = 1 + rnd.nextInt(32);
    int n = 1 + rnd.nextInt(32);
    boolean bf16 = rnd.nextBoolean();
    List<Expert> experts = new ArrayList<>();
    for (int i = 1 + rnd.nextInt(5); i > 0; i--) {
      experts.add(Expert.random(rnd, d, ff, bf16));
    }
    float[][] x = Naive.gaussian(rnd, n, d, 1, false);

    List<ExpertWork> work = new ArrayList<>();
    double[][] want = new double[n][d];
    for (int items = rnd.nextInt(7); items > 0; items--) {
      Expert e = experts.get(rnd.nextInt(experts.size()));
      int[] rows =
          switch (rnd.nextInt(8)) {
            case 0 -> new int[0];
            case 1, 2 -> IntStream.range(0, n).toArray();
            default -> randomSubsetInRandomOrder(rnd, n);
          };
      float[] weights = new float[rows.length];
      for (int i = 0; i < rows.length; i++) {
        weights[i] = (float) rnd.nextDouble();
        double[] y = e.naive(x[rows[i]]);
        for (int j = 0; j < d; j++) {
          want[rows[i]][j] += weights[i] * y[j];
        }
      }
      work.add(new ExpertWork(e.kernel(), rows, weights));
    }

    INDArray out = MoeCombiner.combineOnce(Nd4j.createFromArray(x), work);

    assertThat(out.shape()).containsExactly(n, d);
    double tol = REL_TOL * Naive.maxAbs(want);
    assertThat(Naive.maxAbsDiff(Naive.rows(out), want))
        .as(
            "case %d: d=%d ff=%d n=%d items=%d bf16=%s, tolerance %s",
            caseNo, d, ff, n, work.size(), bf16, tol)
        .isLessThanOrEqualTo(tol);
  }

  @Test
  void rowsNoWorkItemListsAreExactlyZero() {
    SplittableRandom rnd = new SplittableRandom(7);
    Expert e = Expert.random(rnd, 8, 12, false);
    float[][] x = Naive.gaussian(rnd, 5, 8, 1, false);

    float[][] out =
        Naive.rows(
            MoeCombiner.combineOnce(
                Nd4j.createFromArray(x),
                List.of(new ExpertWork(e.kernel(), new int[] {3, 1}, new float[] {0.25f, 0.75f}))));

    for (int row : new int[] {0, 2, 4}) {
      assertThat(out[row]).as("row %d", row).containsOnly(0f);
    }
    assertThat(out[1]).isNotEqualTo(new float[8]);
    assertThat(out[3]).isNotEqualTo(new float[8]);
  }

  @Test
  void bf16WeightsGiveTheSameKernelWhetherWidenedBeforeOrInsideFromHf() {
    SplittableRandom rnd = new SplittableRandom(11);
    float[][] w1 = Naive.gaussian(rnd, 24, 16, 0.25, true);
    float[][] w3 = Naive.gaussian(rnd, 24, 16, 0.25, true);
    float[][] w2 = Naive.gaussian(rnd, 16, 24, 0.2, true);
    INDArray x = Nd4j.createFromArray(Naive.gaussian(rnd, 6, 16, 1, false));

    ExpertKernel widened =
        ExpertKernel.fromHf(Naive.nd(w1, true), Naive.nd(w3, true), Naive.nd(w2, true));
    ExpertKernel raw =
        ExpertKernel.fromHf(
            Naive.nd(w1, true).castTo(DataType.BFLOAT16),
            Naive.nd(w3, true).castTo(DataType.BFLOAT16),
            Naive.nd(w2, true).castTo(DataType.BFLOAT16));

    assertThat(Naive.rows(raw.apply(x))).isDeepEqualTo(Naive.rows(widened.apply(x)));
  }

  @Test
  void rowMajorArraysGiveTheSameKernelAsNdArrays() {
    SplittableRandom rnd = new SplittableRandom(12);
    float[][] w1 = Naive.gaussian(rnd, 24, 16, 0.25, false);
    float[][] w3 = Naive.gaussian(rnd, 24, 16, 0.25, false);
    float[][] w2 = Naive.gaussian(rnd, 16, 24, 0.2, false);
    INDArray x = Nd4j.createFromArray(Naive.gaussian(rnd, 5, 16, 1, false));

    ExpertKernel nd =
        ExpertKernel.fromHf(Naive.nd(w1, false), Naive.nd(w3, false), Naive.nd(w2, false));
    ExpertKernel flat = ExpertKernel.fromHf(flat(w1), flat(w3), flat(w2), 24, 16);

    assertThat(Naive.rows(flat.apply(x))).isDeepEqualTo(Naive.rows(nd.apply(x)));
    assertThat(Naive.rows(flat.apply(x.getRows(2))))
        .isDeepEqualTo(Naive.rows(nd.apply(x.getRows(2))));
  }

  private static float[] flat(float[][] m) {
    float[] out = new float[m.length * m[0].length];
    for (int r = 0; r < m.length; r++) {
      System.arraycopy(m[r], 0, out, r * m[0].length, m[0].length);
    }
    return out;
  }

  @Test
  void fromHfRejectsWeightsWhoseShapesDoNotFit() {
    INDArray w1 = Nd4j.zeros(DataType.FLOAT, 12, 8);
    INDArray w3 = Nd4j.zeros(DataType.FLOAT, 12, 8);

    assertThatThrownBy(() -> ExpertKernel.fromHf(w1, w3, Nd4j.zeros(DataType.FLOAT, 12, 8)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("w2 [d, ff]")
        .hasMessageContaining("[12, 8]");
    assertThatThrownBy(
            () ->
                ExpertKernel.fromHf(
                    w1, Nd4j.zeros(DataType.FLOAT, 12, 9), Nd4j.zeros(DataType.FLOAT, 8, 12)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void workItemsNeedOneWeightPerRow() {
    ExpertKernel k = Expert.random(new SplittableRandom(1), 4, 4, false).kernel();

    assertThatThrownBy(() -> new ExpertWork(k, new int[] {0, 1}, new float[] {1f}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("2 vs 1");
  }

  private static int[] randomSubsetInRandomOrder(SplittableRandom rnd, int n) {
    int[] all = IntStream.range(0, n).toArray();
    for (int i = n - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1);
      int t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    return Arrays.copyOf(all, 1 + rnd.nextInt(n));
  }
}
