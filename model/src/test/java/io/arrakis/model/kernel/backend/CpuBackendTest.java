package io.arrakis.model.kernel.backend;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Naive;
import io.arrakis.proto.v1.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The CPU backend on decode-sized batches, where each expert gets one to a few rows (the case issue
 * 14's cluster decode sends): every token's partial sum equals plain double-precision loops, and
 * equals, to the bit, what the token gets when it is sent alone.
 */
class CpuBackendTest {
  private static final int D = 72;
  private static final int FF = 40;
  private static final int EXPERTS = 6;
  private static final int K = 2;

  private record Expert(float[][] w1, float[][] w3, float[][] w2, BackendExpert loaded) {}

  @Test
  void fewRowsPerExpertMatchPlainLoopsAndEachTokenAlone() throws Exception {
    SplittableRandom rnd = new SplittableRandom(11);
    CpuBackend backend = CpuBackend.start(1);
    List<Expert> experts = new ArrayList<>();
    for (int e = 0; e < EXPERTS; e++) {
      float[][] w1 = Naive.gaussian(rnd, FF, D, 1 / Math.sqrt(D), true);
      float[][] w3 = Naive.gaussian(rnd, FF, D, 1 / Math.sqrt(D), true);
      float[][] w2 = Naive.gaussian(rnd, D, FF, 1 / Math.sqrt(FF), true);
      BackendExpert loaded =
          backend.load(
              new ExpertWeights(
                  D,
                  FF,
                  new WeightTensor(StDType.BF16, FF, D, Naive.bf16Bytes(w1)),
                  new WeightTensor(StDType.BF16, FF, D, Naive.bf16Bytes(w3)),
                  new WeightTensor(StDType.BF16, D, FF, Naive.bf16Bytes(w2))));
      experts.add(new Expert(w1, w3, w2, loaded));
    }
    for (int tokens : new int[] {1, 3, 8, 13}) {
      float[][] x = Naive.gaussian(rnd, tokens, D, 1, false);
      int[][] chosen = new int[tokens][K];
      float[][] weights = new float[tokens][K];
      for (int t = 0; t < tokens; t++) {
        chosen[t][0] = rnd.nextInt(EXPERTS);
        chosen[t][1] = (chosen[t][0] + 1 + rnd.nextInt(EXPERTS - 1)) % EXPERTS;
        weights[t][0] = (float) rnd.nextDouble();
        weights[t][1] = (float) rnd.nextDouble();
      }

      float[] batch =
          TensorCodec.floats(
              backend.compute(encode(x, 0, tokens), work(experts, chosen, weights, 0, tokens)));

      double[][] want = new double[tokens][D];
      for (int t = 0; t < tokens; t++) {
        for (int r = 0; r < K; r++) {
          Expert e = experts.get(chosen[t][r]);
          double[] y = Naive.expert(e.w1(), e.w3(), e.w2(), x[t]);
          for (int j = 0; j < D; j++) {
            want[t][j] += weights[t][r] * y[j];
          }
        }
        float[] alone =
            TensorCodec.floats(
                backend.compute(encode(x, t, 1), work(experts, chosen, weights, t, 1)));
        assertThat(alone)
            .as("%d tokens: token %d alone", tokens, t)
            .containsExactly(Arrays.copyOfRange(batch, t * D, (t + 1) * D));
      }
      float[][] got = new float[tokens][];
      for (int t = 0; t < tokens; t++) {
        got[t] = Arrays.copyOfRange(batch, t * D, (t + 1) * D);
      }
      assertThat(Naive.maxAbsDiff(got, want))
          .as("%d tokens", tokens)
          .isLessThanOrEqualTo(1e-5 * Naive.maxAbs(want));
    }
  }

  private static Tensor encode(float[][] x, int from, int count) {
    float[] flat = new float[count * D];
    for (int t = 0; t < count; t++) {
      System.arraycopy(x[from + t], 0, flat, t * D, D);
    }
    return TensorCodec.encodeFloat(flat, count, D);
  }

  /**
   * One work item per expert that any of tokens [from, from + count) chose, rows renumbered from 0.
   */
  private static List<BackendWork> work(
      List<Expert> experts, int[][] chosen, float[][] weights, int from, int count) {
    List<BackendWork> work = new ArrayList<>();
    for (int e = 0; e < experts.size(); e++) {
      List<Integer> rows = new ArrayList<>();
      List<Float> w = new ArrayList<>();
      for (int t = 0; t < count; t++) {
        for (int r = 0; r < K; r++) {
          if (chosen[from + t][r] == e) {
            rows.add(t);
            w.add(weights[from + t][r]);
          }
        }
      }
      if (!rows.isEmpty()) {
        float[] ws = new float[w.size()];
        for (int i = 0; i < ws.length; i++) {
          ws[i] = w.get(i);
        }
        work.add(
            new BackendWork(
                experts.get(e).loaded(), rows.stream().mapToInt(Integer::intValue).toArray(), ws));
      }
    }
    return work;
  }
}
