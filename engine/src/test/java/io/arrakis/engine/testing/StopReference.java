package io.arrakis.engine.testing;

import io.arrakis.engine.Engine;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.sampling.Sampler;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * Greedy decoding with stop tokens and min tokens written out from vLLM's definition, on an
 * engine's logits step by step: while fewer than min tokens are out, the stop tokens' logits are
 * -infinity (vLLM's min-tokens logits processor); after that the first stop token picked ends the
 * sequence and is part of it.
 */
public final class StopReference {
  private StopReference() {}

  /**
   * The tokens and whether a stop token ended them.
   *
   * @param closest the smallest gap seen between the best and the second best logit at a step
   */
  public record Decoded(int[] tokens, boolean stopped, float closest) {}

  /** Up to {@code maxTokens} greedy tokens of {@code prompt} (as sequence 1, released after). */
  public static Decoded greedy(
      Engine engine, int[] prompt, int maxTokens, Set<Integer> stops, int minTokens) {
    int vocab = engine.config().vocabSize();
    List<Integer> out = new ArrayList<>();
    float closest = Float.POSITIVE_INFINITY;
    boolean stopped = false;
    try {
      float[] logits = engine.step(List.of(SequenceChunk.of(1, prompt))).logits(0);
      while (out.size() < maxTokens) {
        float[] row = Arrays.copyOf(logits, vocab);
        if (out.size() < minTokens) {
          stops.forEach(t -> row[t] = Float.NEGATIVE_INFINITY);
        }
        int best = Sampler.argmax(row, 0, vocab);
        float second = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
          second = i == best ? second : Math.max(second, row[i]);
        }
        closest = Math.min(closest, row[best] - second);
        out.add(best);
        if (out.size() > minTokens && stops.contains(best)) {
          stopped = true;
          break;
        }
        if (out.size() < maxTokens) {
          logits = engine.step(List.of(SequenceChunk.of(1, best))).logits(0);
        }
      }
    } finally {
      engine.release(1);
    }
    return new Decoded(out.stream().mapToInt(Integer::intValue).toArray(), stopped, closest);
  }
}
