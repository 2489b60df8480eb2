package io.arrakis.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A token's log-probability is its logit's log-softmax over the vocabulary, computed without
 * overflow; the top tokens come best first, the lower id first on ties, whether or not the chosen
 * token is among them.
 */
class TokenLogprobsTest {

  @Test
  void theLogprobIsTheLogSoftmaxOfTheLogitsAsTheyAre() {
    float[] logits = {1f, 2f, 3f, 0.5f};
    double sum = Math.exp(1) + Math.exp(2) + Math.exp(3) + Math.exp(0.5);
    TokenLogprobs t = TokenLogprobs.of(logits, 0, 4, 0, 2);
    assertThat(t.token()).isZero();
    assertThat((double) t.logprob()).isCloseTo(1 - Math.log(sum), within(1e-6));
    assertThat(t.topIds()).containsExactly(2, 1);
    assertThat(t.topLogprobs()[0]).isCloseTo((float) (3 - Math.log(sum)), within(1e-6f));
    assertThat(t.topLogprobs()[1]).isCloseTo((float) (2 - Math.log(sum)), within(1e-6f));
  }

  @Test
  void hugeLogitsDoNotOverflowAndProbabilitiesAddUpToOne() {
    float[] logits = new float[1000];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = 5000f + (i % 7);
    }
    double total = 0;
    for (int token = 0; token < logits.length; token++) {
      TokenLogprobs t = TokenLogprobs.of(logits, 0, logits.length, token, 0);
      assertThat(t.logprob()).isFinite().isNegative();
      total += Math.exp(t.logprob());
    }
    assertThat(total).isCloseTo(1, within(1e-4));
  }

  @Test
  void topTokensComeBestFirstTiesToTheLowerIdFromTheGivenOffset() {
    float[] logits = {99f, 99f, 0f, 3f, 1f, 3f, 2f, 3f};
    TokenLogprobs t = TokenLogprobs.of(logits, 2, 6, 0, 4);
    assertThat(t.topIds()).containsExactly(1, 3, 5, 4);
    assertThat(t.topLogprobs()[0]).isEqualTo(t.topLogprobs()[1]).isEqualTo(t.topLogprobs()[2]);
    assertThat(t.topLogprobs()[3]).isLessThan(t.topLogprobs()[2]);
    assertThat(TokenLogprobs.of(logits, 2, 6, 0, 10).topIds())
        .as("more asked than the vocabulary holds")
        .containsExactly(1, 3, 5, 4, 2, 0);
    assertThat(TokenLogprobs.of(logits, 2, 6, 0, 0).topIds()).isEmpty();
  }

  @Test
  void topTokensMatchAFullSortOnALargeVocabulary() {
    SplittableRandom r = new SplittableRandom(5);
    float[] logits = new float[50_000];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) Math.round(r.nextGaussian() * 40) / 8;
    }
    Integer[] order = new Integer[logits.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(
        order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : a - b);
    int[] want = new int[20];
    for (int i = 0; i < want.length; i++) {
      want[i] = order[i];
    }
    assertThat(TokenLogprobs.of(logits, 0, logits.length, 7, 20).topIds()).containsExactly(want);
  }
}
