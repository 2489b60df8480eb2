package io.arrakis.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.engine.testing.PenaltyReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The sampler draws from the distribution its parameters define: temperature, then the top-k most
 * likely tokens, then the smallest set of them reaching top-p; a seed repeats its draws. Checked by
 * frequency over many draws against the distribution worked out here by sorting every token.
 */
class SamplerTest {
  private static final int DRAWS = 40_000;

  private static SamplingParams sampled(float temperature, int topK, float topP, long seed) {
    return SamplingParams.greedy(16, Set.of())
        .withTemperature(temperature)
        .withTopK(topK)
        .withTopP(topP)
        .withSeed(seed);
  }

  /** Random logits with ties, spread over a few units as a model's are. */
  private static float[] logits(int vocab, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] l = new float[vocab];
    for (int i = 0; i < vocab; i++) {
      l[i] = (float) Math.round(r.nextGaussian() * 8) / 4; // quarter steps: many ties
    }
    return l;
  }

  /**
   * The distribution by its definition: softmax of logits / temperature, tokens sorted by
   * probability (lower id first on ties), the first top-k kept, then the shortest prefix reaching
   * top-p, renormalized.
   */
  private static double[] expected(float[] logits, float temperature, int topK, float topP) {
    int n = logits.length;
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l / (double) temperature);
    }
    double[] p = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      p[i] = Math.exp(logits[i] / (double) temperature - max);
      sum += p[i];
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      p[i] /= sum;
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
    int keep = topK > 0 ? Math.min(topK, n) : n;
    double mass = 0;
    int kept = 0;
    while (kept < keep) {
      mass += p[order[kept++]];
      if (mass >= topP) {
        break;
      }
    }
    double[] want = new double[n];
    for (int i = 0; i < kept; i++) {
      want[order[i]] = p[order[i]] / mass;
    }
    return want;
  }

  /**
   * Every token is drawn within 5 standard deviations (plus 3, for the rarest tokens, whose counts
   * are far from normal) of its expected count; a token outside the kept set never.
   */
  private static void drawsFollow(float[] logits, SamplingParams params) {
    double[] want = expected(logits, params.temperature(), params.topK(), params.topP());
    Sampler sampler = new Sampler(params);
    int[] seen = new int[logits.length];
    for (int d = 0; d < DRAWS; d++) {
      seen[sampler.next(logits, 0, logits.length)]++;
    }
    for (int i = 0; i < logits.length; i++) {
      if (want[i] == 0) {
        assertThat(seen[i]).as("token %d is outside the kept set", i).isZero();
      } else {
        double mean = DRAWS * want[i];
        double slack = 5 * Math.sqrt(mean * (1 - want[i])) + 3;
        assertThat((double) seen[i])
            .as("draws of token %d (p = %.5f)", i, want[i])
            .isBetween(mean - slack, mean + slack);
      }
    }
  }

  @Test
  void withoutTopKOrTopPEveryTokenIsDrawnAsOftenAsItsProbability() {
    drawsFollow(logits(50, 1), sampled(1f, 0, 1f, 11));
    drawsFollow(logits(50, 2), sampled(0.5f, 0, 1f, 12));
  }

  @Test
  void topKKeepsTheKMostLikelyTokensTiesToTheLowerId() {
    drawsFollow(logits(200, 3), sampled(1f, 5, 1f, 13));
    drawsFollow(logits(200, 4), sampled(1.3f, 70, 1f, 14));
  }

  @Test
  void topPKeepsTheSmallestSetReachingItEvenWhenItHoldsMostTokens() {
    drawsFollow(logits(300, 5), sampled(1f, 0, 0.5f, 15));
    // a flat distribution: the nucleus holds most of the tokens
    drawsFollow(logits(300, 6), sampled(20f, 0, 0.9f, 16));
    drawsFollow(logits(300, 7), sampled(1f, 100, 0.8f, 17));
  }

  @Test
  void theSameSeedDrawsTheSameTokensAndAnotherSeedOthers() {
    float[] l = logits(151_936, 8); // a real vocabulary's size
    int[] first = new int[32];
    int[] again = new int[32];
    int[] other = new int[32];
    Sampler a = new Sampler(sampled(1f, 0, 0.95f, 21));
    Sampler b = new Sampler(sampled(1f, 0, 0.95f, 21));
    Sampler c = new Sampler(sampled(1f, 0, 0.95f, 22));
    for (int i = 0; i < first.length; i++) {
      first[i] = a.next(l, 0, l.length);
      again[i] = b.next(l, 0, l.length);
      other[i] = c.next(l, 0, l.length);
    }
    assertThat(again).containsExactly(first);
    assertThat(other).isNotEqualTo(first);
  }

  @Test
  void greedyTakesTheLargestLogitTheLowerIdOnTies() {
    float[] l = {0.5f, 2f, -1f, 2f};
    assertThat(new Sampler(SamplingParams.greedy(4, Set.of())).next(l, 0, 4)).isEqualTo(1);
    float[] shifted = {9f, 9f, 0.5f, 2f, -1f, 2f};
    assertThat(Sampler.argmax(shifted, 2, 4)).isEqualTo(1);
    assertThat(new Sampler(sampled(1f, 1, 1f, 3)).next(l, 0, 4))
        .as("top-k 1 is greedy")
        .isEqualTo(1);
  }

  @Test
  void penaltiesChangeTheLogitsAsDefinedAndLeaveTheRowAsItWas() {
    SplittableRandom r = new SplittableRandom(5);
    for (Penalties p :
        List.of(
            new Penalties(0.5f, 0.25f, 2f),
            new Penalties(-1f, 0.3f, 0.8f),
            new Penalties(0f, 2f, 1f),
            new Penalties(1.5f, 0f, 1.3f))) {
      int[] prompt = {1, 2, 7, 7};
      Sampler sampler = new Sampler(SamplingParams.greedy(64, Set.of()).withPenalties(p), prompt);
      List<Integer> output = new ArrayList<>();
      for (int step = 0; step < 40; step++) {
        float[] row = logits(12, r.nextLong());
        float[] before = row.clone();
        float[] want =
            PenaltyReference.penalize(
                row, prompt, output, p.presence(), p.frequency(), p.repetition());
        assertThat(sampler.penalized(row, 0, row.length))
            .as("%s at step %d", p, step)
            .containsExactly(want, within(1e-6f));
        int token = sampler.next(row, 0, row.length);
        assertThat(token)
            .as("%s: greedy over the penalized logits", p)
            .isEqualTo(Sampler.argmax(want, 0, want.length));
        assertThat(row).as("the logits themselves").containsExactly(before);
        output.add(token);
      }
    }
  }

  @Test
  void aFrequencyPenaltyStopsGreedyRepeatingTheSameToken() {
    float[] l = {0.1f, 4f, 3.6f, 3.2f, -2f};
    Sampler plain = new Sampler(SamplingParams.greedy(8, Set.of()), new int[] {0});
    Sampler penalized =
        new Sampler(
            SamplingParams.greedy(8, Set.of()).withPenalties(new Penalties(0f, 1f, 1f)),
            new int[] {0});
    int[] a = new int[6];
    int[] b = new int[6];
    for (int i = 0; i < a.length; i++) {
      a[i] = plain.next(l, 0, l.length);
      b[i] = penalized.next(l, 0, l.length);
    }
    assertThat(a).containsOnly(1);
    // 4 - n, 3.6 - n, 3.2 - n after n picks each: the three take turns
    assertThat(b).containsExactly(1, 2, 3, 1, 2, 3);
  }

  @Test
  void aLogitBiasIsAddedBeforeThePenalties() {
    SplittableRandom r = new SplittableRandom(9);
    Map<Integer, Float> bias = Map.of(0, 3.5f, 4, -100f, 9, -2.25f, 11, 100f);
    Penalties p = new Penalties(0.4f, 0.9f, 1.6f);
    int[] prompt = {4, 9, 3};
    Sampler sampler =
        new Sampler(
            SamplingParams.greedy(64, Set.of()).withPenalties(p).withLogitBias(bias), prompt);
    List<Integer> output = new ArrayList<>();
    for (int step = 0; step < 30; step++) {
      float[] row = logits(12, r.nextLong());
      float[] want =
          PenaltyReference.penalize(
              row, bias, prompt, output, p.presence(), p.frequency(), p.repetition());
      assertThat(sampler.penalized(row, 0, row.length)).containsExactly(want, within(1e-4f));
      int token = sampler.next(row, 0, row.length);
      assertThat(token).isEqualTo(Sampler.argmax(want, 0, want.length));
      output.add(token);
    }
    assertThat(output).as("-100 bans token 4").doesNotContain(4);
  }

  @Test
  void aBiasAloneSteersGreedyAndSampling() {
    float[] l = {2f, 1f, 0.5f, -1f};
    Map<Integer, Float> bias = Map.of(0, -100f, 3, 3.5f);
    assertThat(new Sampler(SamplingParams.greedy(4, Set.of()).withLogitBias(bias)).next(l, 0, 4))
        .isEqualTo(3);
    Sampler sampled = new Sampler(sampled(1f, 0, 1f, 5).withLogitBias(Map.of(0, -100f)));
    for (int i = 0; i < 2000; i++) {
      assertThat(sampled.next(l, 0, 4)).isNotZero();
    }
    assertThatThrownBy(() -> SamplingParams.greedy(4, Set.of()).withLogitBias(Map.of(1, 101f)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> SamplingParams.greedy(4, Set.of()).withLogitBias(Map.of(-1, 1f)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void untilMinTokensTheStopAndEosTokensAreNeverPickedAndTheRowStaysAsItWas() {
    // eos (1) and the stop token (3) lead; 0 and 2 follow
    float[] l = {1f, 5f, 0.5f, 4f, -1f};
    float[] copy = l.clone();
    Sampler greedy =
        new Sampler(
            SamplingParams.greedy(8, Set.of(1)).withStopTokenIds(Set.of(3)).withMinTokens(3));
    int[] picks = new int[4];
    for (int i = 0; i < picks.length; i++) {
      picks[i] = greedy.next(l, 0, l.length);
    }
    assertThat(picks).containsExactly(0, 0, 0, 1);
    assertThat(l).containsExactly(copy);

    Sampler sampled =
        new Sampler(
            sampled(1f, 0, 1f, 3)
                .withStopTokenIds(Set.of(3))
                .withIgnoreEos(true)
                .withMinTokens(16));
    int eos = 0;
    for (int i = 0; i < 16; i++) {
      int t = sampled.next(l, 0, l.length);
      assertThat(t).as("pick %d", i).isNotEqualTo(3);
      eos += t == 1 ? 1 : 0;
    }
    assertThat(eos).as("eos is an ordinary token when ignored").isPositive();
    assertThat(sampled.next(new float[] {0f, 0f, 0f, 9f, 0f}, 0, 5))
        .as("past min tokens the stop token comes back")
        .isEqualTo(3);
  }

  @Test
  void stopsThatAreTheWholeVocabularyAreNotBarred() {
    Sampler s =
        new Sampler(
            SamplingParams.greedy(4, Set.of(0)).withStopTokenIds(Set.of(1, 2)).withMinTokens(2));
    assertThat(s.next(new float[] {0f, 3f, 1f}, 0, 3)).isEqualTo(1);
    assertThatThrownBy(() -> SamplingParams.greedy(4, Set.of()).withMinTokens(5))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> SamplingParams.greedy(4, Set.of()).withMinTokens(-1))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void penaltiesOutsideTheirRangesAreRefused() {
    assertThatThrownBy(() -> new Penalties(2.5f, 0f, 1f))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new Penalties(0f, Float.NaN, 1f))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new Penalties(0f, 0f, 0f))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new Penalties(0f, 0f, 11f))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(Penalties.NONE.none()).isTrue();
  }
}
