package io.arrakis.model.gating;

import java.util.Arrays;

/**
 * Softmax in float32 and top-k selection over rows of gate logits, the way PyTorch's
 * MixtralSparseMoeBlock does it: probabilities first, then the k largest (ties to the lower expert
 * id), then optional renormalisation of the k weights to sum 1.
 */
final class TopK {
  private TopK() {}

  /**
   * Routes T tokens from their logits.
   *
   * @param logits row-major [tokens, experts]
   */
  public static Routing route(float[] logits, int tokens, int experts, int k, boolean renormalize) {
    if (k < 1 || k > experts) {
      throw new IllegalArgumentException("k must be in 1.." + experts + ", got " + k);
    }
    int[] ids = new int[tokens * k];
    float[] weights = new float[tokens * k];
    float[] probs = new float[experts];
    boolean[] taken = new boolean[experts];
    for (int t = 0; t < tokens; t++) {
      softmax(logits, t * experts, experts, probs);
      Arrays.fill(taken, false);
      float sum = 0f;
      for (int r = 0; r < k; r++) {
        int best = -1;
        for (int e = 0; e < experts; e++) {
          // strict '>' keeps the lower id on ties
          if (!taken[e] && (best < 0 || probs[e] > probs[best])) {
            best = e;
          }
        }
        taken[best] = true;
        ids[t * k + r] = best;
        weights[t * k + r] = probs[best];
        sum += probs[best];
      }
      if (renormalize) {
        for (int r = 0; r < k; r++) {
          weights[t * k + r] /= sum;
        }
      }
    }
    return new Routing(tokens, k, ids, weights);
  }

  /** Numerically stable float32 softmax of {@code src[from .. from+n)} into {@code dst[0 .. n)}. */
  static void softmax(float[] src, int from, int n, float[] dst) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      max = Math.max(max, src[from + i]);
    }
    float sum = 0f;
    for (int i = 0; i < n; i++) {
      float e = (float) Math.exp(src[from + i] - max);
      dst[i] = e;
      sum += e;
    }
    for (int i = 0; i < n; i++) {
      dst[i] /= sum;
    }
  }
}
