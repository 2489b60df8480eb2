package io.arrakis.model.gating;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** DeepSeek-V3's gate: sigmoid scores, bias for selection only, group-limited top-k, scaling. */
class GroupLimitedSigmoidTest {
  private static float logit(double p) {
    return (float) Math.log(p / (1 - p));
  }

  @Test
  void choosesWithinTheBestGroupsByBiasedScoresAndWeighsByUnbiasedOnes() {
    // 8 experts in 4 groups of 2; scores below; bias lifts expert 7 and sinks expert 0
    double[] p = {0.9, 0.8, 0.3, 0.2, 0.6, 0.5, 0.1, 0.4};
    float[] bias = {-0.5f, 0, 0, 0, 0, 0, 0, 0.6f};
    float[] logits = new float[8];
    for (int e = 0; e < 8; e++) {
      logits[e] = logit(p[e]);
    }
    // biased group sums: g0 = 0.4 + 0.8 = 1.2, g1 = 0.5, g2 = 1.1, g3 = 0.1 + 1.0 = 1.1 -> groups 0
    // and g2 (tie with g3: lower id)
    GateRule rule = new GateRule.GroupLimitedSigmoid(3, bias, 4, 2, true, 2.5f);
    Routing r = rule.route(logits, 1, 8);

    assertThat(r.ids())
        .containsExactly(
            1, 4, 5); // biased: 1:0.8, 4:0.6, 5:0.5, 0:0.4 (expert 7 is in a dropped group)
    double sum = 0.8 + 0.6 + 0.5;
    assertThat(r.weight(0, 0)).isCloseTo((float) (0.8 / sum * 2.5), within(1e-6f));
    assertThat(r.weight(0, 1)).isCloseTo((float) (0.6 / sum * 2.5), within(1e-6f));
    assertThat(r.weight(0, 2)).isCloseTo((float) (0.5 / sum * 2.5), within(1e-6f));
  }

  @Test
  void withoutRenormalisationTheWeightsAreTheScoresTimesTheScalingFactor() {
    float[] logits = {logit(0.7), logit(0.2), logit(0.9), logit(0.1)};
    Routing r =
        new GateRule.GroupLimitedSigmoid(2, new float[4], 1, 1, false, 1.5f).route(logits, 1, 4);
    assertThat(r.ids()).containsExactly(2, 0);
    assertThat(r.weight(0, 0)).isCloseTo(0.9f * 1.5f, within(1e-6f));
    assertThat(r.weight(0, 1)).isCloseTo(0.7f * 1.5f, within(1e-6f));
  }

  @Test
  void expertsOfDroppedGroupsScoreZeroSoANegativeBiasedExpertLosesToThem() {
    // biased scores of group 0 are negative; group 1 is dropped (its top-2 sum is lower) and its
    // experts count as 0, above group 0's negative ones, as in transformers and DeepSeek's code
    float[] logits = {logit(0.5), logit(0.5), logit(0.2), logit(0.1)};
    float[] bias = {-0.6f, -0.7f, 0, 0};
    Routing r = new GateRule.GroupLimitedSigmoid(2, bias, 2, 1, false, 1f).route(logits, 1, 4);
    // group sums: g0 = -0.1 + -0.2 = -0.3, g1 = 0.3 -> g1 taken; g0 masked to 0
    assertThat(r.ids()).containsExactly(2, 3);
  }

  @Test
  void tiesGoToTheLowerExpertId() {
    Routing r =
        new GateRule.GroupLimitedSigmoid(2, new float[4], 2, 2, true, 1f).route(new float[4], 1, 4);
    assertThat(r.ids()).containsExactly(0, 1);
  }
}
