package io.arrakis.model.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.testing.Naive;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A whole MoE layer, from random model files (float32 or bfloat16 weights, renormalised or not)
 * through {@link MoeModel} and {@link ReferenceMoe}, against the naive layer: Σ over the top-k
 * experts of weight × w2(silu(w1·x) ⊙ w3·x).
 */
class ReferenceMoePropertyTest {

  static IntStream cases() {
    return IntStream.range(0, 30);
  }

  @ParameterizedTest(name = "case {0}")
  @MethodSource("cases")
  void forwardEqualsNaiveMoeLayer(int caseNo, @TempDir Path dir) throws Exception {
    SplittableRandom rnd = new SplittableRandom(0x3E4_0000L + caseNo);
    int experts = 1 + rnd.nextInt(12);
    int k = 1 + rnd.nextInt(experts);
    int d = 1 + rnd.nextInt(32);
    int ff = 1 + rnd.nextInt(32);
    int tokens = 1 + rnd.nextInt(24);
    boolean renormalize = rnd.nextBoolean();
    boolean bf16 = rnd.nextBoolean();
    int layer = rnd.nextInt(2); // the other layer has no MoE block and must be skipped
    float[][] gate = Naive.gaussian(rnd, experts, d, 2 / Math.sqrt(d), bf16);
    float[][][] w1 = new float[experts][][];
    float[][][] w3 = new float[experts][][];
    float[][][] w2 = new float[experts][][];
    Map<SafetensorsWriter.Entry, ByteBuffer> tensors = new LinkedHashMap<>();
    put(tensors, TensorNames.gate(layer), gate, bf16);
    for (int e = 0; e < experts; e++) {
      w1[e] = Naive.gaussian(rnd, ff, d, 1 / Math.sqrt(d), bf16);
      w3[e] = Naive.gaussian(rnd, ff, d, 1 / Math.sqrt(d), bf16);
      w2[e] = Naive.gaussian(rnd, d, ff, 1 / Math.sqrt(ff), bf16);
      put(tensors, TensorNames.expert(layer, e, "w1"), w1[e], bf16);
      put(tensors, TensorNames.expert(layer, e, "w2"), w2[e], bf16);
      put(tensors, TensorNames.expert(layer, e, "w3"), w3[e], bf16);
    }
    new ModelConfig(d, ff, experts, k, 2, renormalize, bf16 ? "bfloat16" : "float32").save(dir);
    SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
    float[][] x = new float[tokens][];
    for (int t = 0; t < tokens; t++) {
      int draws = 0;
      do { // no near ties: another correct implementation could choose differently there
        assertThat(++draws)
            .as("case %d: draws for a token without near ties", caseNo)
            .isLessThan(1000);
        x[t] = Naive.gaussian(rnd, 1, d, 1, false)[0];
      } while (Naive.topKMargin(Naive.logits(x[t], gate), k) < 1e-3);
    }

    ReferenceMoe.Result result;
    try (MoeModel model = MoeModel.open(dir)) {
      assertThat(model.moeLayers()).containsExactly(layer);
      assertThat(model.weightsDtype()).isEqualTo(bf16 ? "BF16" : "F32");
      result = ReferenceMoe.load(model, layer).forward(Nd4j.createFromArray(x));
    }

    double[][] want = new double[tokens][d];
    for (int t = 0; t < tokens; t++) {
      Naive.Route route = Naive.topK(Naive.logits(x[t], gate), k, renormalize);
      for (int r = 0; r < k; r++) {
        int e = route.ids()[r];
        assertThat(result.routing().expert(t, r))
            .as("case %d token %d rank %d", caseNo, t, r)
            .isEqualTo(e);
        assertThat((double) result.routing().weight(t, r))
            .isCloseTo(route.weights()[r], within(1e-5));
        double[] y = Naive.expert(w1[e], w3[e], w2[e], x[t]);
        for (int j = 0; j < d; j++) {
          want[t][j] += route.weights()[r] * y[j];
        }
      }
    }
    double tol = 1e-4 * Naive.maxAbs(want);
    assertThat(Naive.maxAbsDiff(Naive.rows(result.output()), want))
        .as(
            "case %d: E=%d k=%d d=%d ff=%d T=%d renorm=%s bf16=%s, tolerance %s",
            caseNo, experts, k, d, ff, tokens, renormalize, bf16, tol)
        .isLessThanOrEqualTo(tol);
  }

  private static void put(
      Map<SafetensorsWriter.Entry, ByteBuffer> tensors, String name, float[][] m, boolean bf16) {
    tensors.put(
        new SafetensorsWriter.Entry(
            name, bf16 ? StDType.BF16 : StDType.F32, new long[] {m.length, m[0].length}),
        bf16 ? Naive.bf16Bytes(m) : Naive.f32Bytes(m));
  }
}
