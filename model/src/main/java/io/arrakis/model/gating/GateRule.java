package io.arrakis.model.gating;

import io.arrakis.model.config.ArchConfig;
import java.util.Arrays;

/**
 * How a family turns a token's gate logits into its k experts and their weights. Ties go to the
 * lower expert id; experts are listed by descending selection score.
 */
public sealed interface GateRule permits GateRule.Softmax, GateRule.GroupLimitedSigmoid {

  int topK();

  /** Routes T tokens from their logits, row-major [tokens, experts]. */
  Routing route(float[] logits, int tokens, int experts);

  /**
   * Mixtral, Qwen2-MoE, Qwen3-MoE: softmax in float32 over all experts, top-k, optionally
   * renormalised.
   */
  record Softmax(int topK, boolean renormalize) implements GateRule {
    @Override
    public Routing route(float[] logits, int tokens, int experts) {
      return TopK.route(logits, tokens, experts, topK, renormalize);
    }
  }

  /**
   * DeepSeek-V3: scores {@code sigmoid(logit)}; the selection adds {@code e_score_correction_bias};
   * experts come from the {@code topkGroup} groups whose two best biased scores sum highest (the
   * other groups' scores are set to 0, as transformers and DeepSeek's reference do); weights are
   * the unbiased scores, renormalised (plus 1e-20) when {@code normTopkProb}, times {@code
   * routedScalingFactor}.
   */
  record GroupLimitedSigmoid(
      int topK,
      float[] bias,
      int nGroup,
      int topkGroup,
      boolean normTopkProb,
      float routedScalingFactor)
      implements GateRule {
    @Override
    public Routing route(float[] logits, int tokens, int experts) {
      if (bias.length != experts || experts % nGroup != 0) {
        throw new IllegalArgumentException(
            "bias has "
                + bias.length
                + " entries for "
                + experts
                + " experts in "
                + nGroup
                + " groups");
      }
      int perGroup = experts / nGroup;
      int[] ids = new int[tokens * topK];
      float[] weights = new float[tokens * topK];
      float[] scores = new float[experts];
      float[] choice = new float[experts];
      float[] groupScore = new float[nGroup];
      boolean[] groupTaken = new boolean[nGroup];
      boolean[] taken = new boolean[experts];
      for (int t = 0; t < tokens; t++) {
        for (int e = 0; e < experts; e++) {
          scores[e] = sigmoid(logits[t * experts + e]);
          choice[e] = scores[e] + bias[e];
        }
        for (int g = 0; g < nGroup; g++) {
          groupScore[g] = topTwoSum(choice, g * perGroup, perGroup);
        }
        Arrays.fill(groupTaken, false);
        for (int r = 0; r < topkGroup; r++) {
          groupTaken[argmaxFree(groupScore, groupTaken)] = true;
        }
        for (int e = 0; e < experts; e++) {
          if (!groupTaken[e / perGroup]) {
            choice[e] = 0f;
          }
        }
        Arrays.fill(taken, false);
        float sum = 0f;
        for (int r = 0; r < topK; r++) {
          int best = argmaxFree(choice, taken);
          taken[best] = true;
          ids[t * topK + r] = best;
          weights[t * topK + r] = scores[best];
          sum += scores[best];
        }
        float denominator = sum + 1e-20f;
        for (int r = 0; r < topK; r++) {
          float w = weights[t * topK + r];
          if (normTopkProb) {
            w /= denominator;
          }
          weights[t * topK + r] = w * routedScalingFactor;
        }
      }
      return new Routing(tokens, topK, ids, weights);
    }

    private static float sigmoid(float x) {
      return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    private static float topTwoSum(float[] v, int from, int n) {
      float first = Float.NEGATIVE_INFINITY;
      float second = Float.NEGATIVE_INFINITY;
      for (int i = from; i < from + n; i++) {
        if (v[i] > first) {
          second = first;
          first = v[i];
        } else if (v[i] > second) {
          second = v[i];
        }
      }
      return n == 1 ? first : first + second;
    }

    // strict '>' keeps the lower index on ties
    private static int argmaxFree(float[] v, boolean[] taken) {
      int best = -1;
      for (int i = 0; i < v.length; i++) {
        if (!taken[i] && (best < 0 || v[i] > v[best])) {
          best = i;
        }
      }
      return best;
    }
  }

  /**
   * The rule of a model's MoE blocks; {@code bias} is the layer's e_score_correction_bias
   * (DeepSeek), else null.
   */
  static GateRule of(ArchConfig.Moe moe, float[] bias) {
    if (!moe.sigmoidScores()) {
      return new Softmax(moe.topK(), moe.normTopkProb());
    }
    return new GroupLimitedSigmoid(
        moe.topK(),
        bias == null ? new float[moe.experts()] : bias,
        moe.nGroup(),
        moe.topkGroup(),
        moe.normTopkProb(),
        (float) moe.routedScalingFactor());
  }
}
