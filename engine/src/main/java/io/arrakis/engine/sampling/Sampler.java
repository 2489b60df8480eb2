package io.arrakis.engine.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks a sequence's next token from its logits: the most likely one (greedy; the lower id on
 * ties), or a draw after temperature, top-k and top-p from the sequence's own random stream, so
 * that a seed gives the same tokens whatever else is in the batch.
 */
public final class Sampler {
  private final SamplingParams params;
  private final SplittableRandom random;
  private Integer[] order = new Integer[0];

  public Sampler(SamplingParams params) {
    this.params = params;
    this.random =
        params.seed().isPresent()
            ? new SplittableRandom(params.seed().getAsLong())
            : new SplittableRandom();
  }

  public SamplingParams params() {
    return params;
  }

  /** The next token from {@code logits[from .. from + vocab)}. */
  public int next(float[] logits, int from, int vocab) {
    if (params.greedy()) {
      return argmax(logits, from, vocab);
    }
    double[] p = new double[vocab];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      p[i] = logits[from + i] / (double) params.temperature();
      max = Math.max(max, p[i]);
    }
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      p[i] = Math.exp(p[i] - max);
      sum += p[i];
    }
    if (order.length != vocab) {
      order = new Integer[vocab];
    }
    for (int i = 0; i < vocab; i++) {
      order[i] = i;
      p[i] /= sum;
    }
    final double[] probs = p;
    Arrays.sort(
        order,
        (a, b) ->
            probs[a] != probs[b] ? Double.compare(probs[b], probs[a]) : Integer.compare(a, b));
    int keep = params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab;
    double mass = 0;
    int kept = 0;
    while (kept < keep) {
      mass += probs[order[kept]];
      kept++;
      if (mass >= params.topP()) {
        break;
      }
    }
    double u = random.nextDouble() * mass;
    double acc = 0;
    for (int i = 0; i < kept; i++) {
      acc += probs[order[i]];
      if (u < acc) {
        return order[i];
      }
    }
    return order[kept - 1];
  }

  /** The index of the largest logit, the lower on ties. */
  public static int argmax(float[] logits, int from, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (logits[from + i] > logits[from + best]) {
        best = i;
      }
    }
    return best;
  }
}
