package io.arrakis.model.gating;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.model.testing.Naive;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Softmax, top-k (ties to the lower id) and renormalisation, and the gate's logits, on many seeded
 * random cases against plain double-precision loops.
 */
class GatingPropertyTest {
  private static final double WEIGHT_TOL = 1e-5;

  /**
   * Random cases keep every token's k+1 largest logits at least this far apart, far beyond float32
   * rounding, so that exactly one top-k choice and order is right.
   */
  private static final double MIN_LOGIT_GAP = 1e-3;

  static IntStream topKCases() {
    return IntStream.range(0, 200);
  }

  @ParameterizedTest(name = "case {0}")
  @MethodSource("topKCases")
  void topKEqualsNaiveSoftmaxTopKAndRenormalisation(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0x70E4_0000L + caseNo);
    int experts = 1 + rnd.nextInt(48);
    int k = 1 + rnd.nextInt(experts);
    int tokens = 1 + rnd.nextInt(48);
    boolean renormalize = rnd.nextBoolean();
    double scale = 0.1 + 8 * rnd.nextDouble();
    double offset = rnd.nextDouble(-50, 50);
    float[] logits = new float[tokens * experts];
    for (int t = 0; t < tokens; t++) {
      float[] row;
      do {
        row = new float[experts];
        for (int e = 0; e < experts; e++) {
          row[e] = (float) (offset + scale * rnd.nextGaussian());
        }
      } while (Naive.topKMargin(toDouble(row), k) < MIN_LOGIT_GAP);
      System.arraycopy(row, 0, logits, t * experts, experts);
    }

    Routing got = TopK.route(logits, tokens, experts, k, renormalize);

    assertThat(got.tokens()).isEqualTo(tokens);
    assertThat(got.k()).isEqualTo(k);
    for (int t = 0; t < tokens; t++) {
      double[] row = toDouble(Arrays.copyOfRange(logits, t * experts, (t + 1) * experts));
      assertRoute(got, t, Naive.topK(row, k, renormalize), "case " + caseNo + " token " + t);
    }
  }

  static IntStream gateCases() {
    return IntStream.range(0, 120);
  }

  /**
   * The gate on random weights (float32 or bfloat16) and inputs: logits = X·Gᵀ, then the naive
   * routing. Tokens whose logits come near a tie are drawn again.
   */
  @ParameterizedTest(name = "case {0}")
  @MethodSource("gateCases")
  void gateRoutesLikeNaiveLogitsSoftmaxTopK(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0x6A7E_0000L + caseNo);
    int experts = 1 + rnd.nextInt(48);
    int d = 1 + rnd.nextInt(48);
    int k = 1 + rnd.nextInt(experts);
    int tokens = 1 + rnd.nextInt(48);
    boolean renormalize = rnd.nextBoolean();
    boolean bf16 = rnd.nextBoolean();
    float[][] g = Naive.gaussian(rnd, experts, d, 2 / Math.sqrt(d), bf16);
    float[][] x = new float[tokens][];
    for (int t = 0; t < tokens; t++) {
      int draws = 0;
      do {
        assertThat(++draws)
            .as("case %d: draws for a token without near ties", caseNo)
            .isLessThan(1000);
        x[t] = Naive.gaussian(rnd, 1, d, 1, false)[0];
      } while (Naive.topKMargin(Naive.logits(x[t], g), k) < MIN_LOGIT_GAP);
    }
    Gate gate = new Gate(Naive.nd(g, bf16), k, renormalize);
    INDArray xs = Nd4j.createFromArray(x);

    double[][] wantLogits = Naive.matmulT(x, g);
    assertThat(Naive.maxAbsDiff(Naive.rows(gate.logits(xs)), wantLogits))
        .as("case %d logits", caseNo)
        .isLessThanOrEqualTo(1e-4 * Naive.maxAbs(wantLogits));
    Routing got = gate.route(xs);
    assertThat(got.tokens()).isEqualTo(tokens);
    assertThat(got.k()).isEqualTo(k);
    for (int t = 0; t < tokens; t++) {
      assertRoute(
          got,
          t,
          Naive.topK(wantLogits[t], k, renormalize),
          "case " + caseNo + " (E=" + experts + " d=" + d + " bf16=" + bf16 + ") token " + t);
    }
  }

  static Stream<Arguments> ties() {
    return Stream.of(
        Arguments.of(new float[] {1, 3, 3, 0, 3}, 2, new int[] {1, 2}),
        Arguments.of(new float[] {1, 3, 3, 0, 3}, 3, new int[] {1, 2, 4}),
        Arguments.of(new float[] {2, 5, 2, 2}, 2, new int[] {1, 0}),
        Arguments.of(new float[] {2, 5, 2, 2}, 3, new int[] {1, 0, 2}),
        Arguments.of(new float[] {0.5f, 0.5f, 0.5f, 0.5f}, 4, new int[] {0, 1, 2, 3}),
        Arguments.of(new float[] {-1, 4, -1, 4, 4, -1}, 4, new int[] {1, 3, 4, 0}));
  }

  @ParameterizedTest(name = "logits {0}, k={1} -> {2}")
  @MethodSource("ties")
  void tiesGoToTheLowerExpertId(float[] logits, int k, int[] expectedIds) {
    Routing r = TopK.route(logits, 1, logits.length, k, false);

    assertThat(r.ids()).containsExactly(expectedIds);
    assertRoute(r, 0, Naive.topK(toDouble(logits), k, false), "tie case");
  }

  @Test
  void equalLogitsGiveEqualWeightsSummingToOneWhenRenormalised() {
    Routing r = TopK.route(new float[] {2, 2, 2, 2, 2, 2, 2, 2}, 1, 8, 2, true);

    assertThat(r.ids()).containsExactly(0, 1);
    assertThat(r.weights()).containsExactly(0.5f, 0.5f);
  }

  @Test
  void withoutRenormalisationTheWeightsAreTheSoftmaxProbabilities() {
    // softmax([ln 4, ln 2, ln 1, ln 1]) = [0.5, 0.25, 0.125, 0.125]
    float[] logits = {(float) Math.log(4), (float) Math.log(2), 0, 0};

    Routing plain = TopK.route(logits, 1, 4, 2, false);
    Routing renormalised = TopK.route(logits, 1, 4, 2, true);

    assertThat(plain.ids()).containsExactly(0, 1);
    assertThat(plain.weight(0, 0)).isCloseTo(0.5f, within(1e-6f));
    assertThat(plain.weight(0, 1)).isCloseTo(0.25f, within(1e-6f));
    assertThat(renormalised.weight(0, 0)).isCloseTo(2 / 3f, within(1e-6f));
    assertThat(renormalised.weight(0, 1)).isCloseTo(1 / 3f, within(1e-6f));
  }

  @Test
  void kEqualToExpertsRanksEveryExpert() {
    float[] logits = {0.3f, -2f, 1.7f, 0.9f, 5f};

    Routing r = TopK.route(logits, 1, 5, 5, true);

    assertThat(r.ids()).containsExactly(4, 2, 3, 0, 1);
    double sum = 0;
    for (float w : r.weights()) {
      sum += w;
    }
    assertThat(sum).isCloseTo(1.0, within(1e-6));
  }

  @Test
  void hugeLogitsDoNotOverflowTheSoftmax() {
    Routing r = TopK.route(new float[] {1000f, 999f, -1000f, 1e30f, -1e30f, 1e30f}, 2, 3, 2, false);

    assertThat(r.ids()).containsExactly(0, 1, 0, 2);
    assertThat(r.weights()).doesNotContain(Float.NaN);
    assertThat(r.weight(0, 0)).isCloseTo((float) (1 / (1 + Math.exp(-1))), within(1e-6f));
    assertThat(r.weight(0, 1)).isCloseTo((float) (1 / (1 + Math.exp(1))), within(1e-6f));
    assertThat(r.weight(1, 0)).isEqualTo(0.5f);
    assertThat(r.weight(1, 1)).isEqualTo(0.5f);
  }

  @Test
  void kOutsideOneToExpertsIsRejected() {
    float[] logits = new float[4];

    assertThatThrownBy(() -> TopK.route(logits, 1, 4, 0, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1..4");
    assertThatThrownBy(() -> TopK.route(logits, 1, 4, 5, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("got 5");
  }

  @Test
  void gateDescribesItsShape() {
    Gate gate = new Gate(Nd4j.zeros(DataType.FLOAT, 6, 10), 3, true);

    assertThat(gate.experts()).isEqualTo(6);
    assertThat(gate.hiddenSize()).isEqualTo(10);
    assertThat(gate.topK()).isEqualTo(3);
  }

  @Test
  void gateWeightMustBeAFloatMatrix() {
    assertThatThrownBy(() -> new Gate(Nd4j.zeros(DataType.FLOAT, 6), 1, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("[E, d]");
    assertThatThrownBy(() -> new Gate(Nd4j.zeros(DataType.DOUBLE, 6, 4), 1, true))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("FLOAT");
  }

  @Test
  void routingRejectsArraysThatAreNotTokensTimesK() {
    assertThatThrownBy(() -> new Routing(2, 2, new int[3], new float[4]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("4");
  }

  private static void assertRoute(Routing got, int token, Naive.Route want, String where) {
    int k = got.k();
    int[] ids = new int[k];
    float[] weights = new float[k];
    for (int r = 0; r < k; r++) {
      ids[r] = got.expert(token, r);
      weights[r] = got.weight(token, r);
    }
    assertThat(ids).as("%s: ids", where).containsExactly(want.ids());
    for (int r = 0; r < k; r++) {
      assertThat((double) weights[r])
          .as("%s: weight of rank %d", where, r)
          .isCloseTo(want.weights()[r], within(WEIGHT_TOL));
    }
  }

  private static double[] toDouble(float[] a) {
    double[] out = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i];
    }
    return out;
  }
}
