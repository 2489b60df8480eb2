package io.arrakis.engine.experts;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.moe.MoeModel;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LocalExpertsTest {

  /**
   * However many tokens share an expert (one, a few, many), each token's routed sum is the one it
   * gets alone, to the bit: the kernel computes every output as one chain over the inputs whatever
   * the rows beside it.
   */
  @Test
  void aTokensRoutedSumIsTheSameAloneAndInABatchToTheBit() throws Exception {
    try (MoeModel model = MoeModel.open(ReferenceModels.dir("mixtral"))) {
      LocalExperts experts = LocalExperts.load(model);
      int layer = model.moeLayers().get(0);
      int d = model.config().hiddenSize();
      int e = model.config().numExperts();
      int k = model.config().topK();
      int n = 37;
      SplittableRandom rnd = new SplittableRandom(5);
      float[] x = new float[n * d];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) rnd.nextGaussian();
      }
      int[] ids = new int[n * k];
      float[] weights = new float[n * k];
      for (int t = 0; t < n; t++) {
        int first =
            t < n / 2 ? 0 : rnd.nextInt(e - k + 1); // half the tokens crowd the same experts
        for (int r = 0; r < k; r++) {
          ids[t * k + r] = first + r;
          weights[t * k + r] = (float) rnd.nextDouble();
        }
      }
      float[] batch = new float[n * d];
      experts
          .compute(layer, x, new Routing(n, k, ids, weights), batch)
          .toCompletableFuture()
          .join();

      for (int t = 0; t < n; t++) {
        float[] alone = new float[d];
        experts
            .compute(
                layer,
                Arrays.copyOfRange(x, t * d, (t + 1) * d),
                new Routing(
                    1,
                    k,
                    Arrays.copyOfRange(ids, t * k, (t + 1) * k),
                    Arrays.copyOfRange(weights, t * k, (t + 1) * k)),
                alone)
            .toCompletableFuture()
            .join();
        assertThat(alone)
            .as("token %d", t)
            .containsExactly(Arrays.copyOfRange(batch, t * d, (t + 1) * d));
        assertThat(alone).as("token %d", t).isNotEqualTo(new float[d]);
      }
    }
  }
}
