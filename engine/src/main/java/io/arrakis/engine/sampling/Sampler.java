package io.arrakis.engine.sampling;

import java.util.SplittableRandom;

/**
 * Picks a sequence's next token from its logits: the most likely one (greedy; the lower id on
 * ties), or a draw after temperature, top-k and top-p from the sequence's own random stream, so
 * that a seed gives the same tokens whatever else is in the batch.
 */
public final class Sampler {
  private final SamplingParams params;
  private final SplittableRandom random;

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

  /**
   * The next token from {@code logits[from .. from + vocab)}: a draw from the kept tokens ({@link
   * KeptTokens}, all of them without top-k and top-p), each as likely as its probability among
   * them.
   */
  public int next(float[] logits, int from, int vocab) {
    if (params.greedy()) {
      return argmax(logits, from, vocab);
    }
    double[] p = new double[vocab]; // not kept: a sequence would hold a vocabulary's worth
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
    for (int i = 0; i < vocab; i++) {
      p[i] /= sum;
    }
    if (params.topK() == 0 && params.topP() >= 1) {
      return draw(p, vocab);
    }
    KeptTokens kept = KeptTokens.of(p, vocab, params.topK(), params.topP());
    double u = random.nextDouble() * kept.mass();
    double acc = 0;
    for (int i = 0; i < kept.count(); i++) {
      acc += p[kept.ids()[i]];
      if (u < acc) {
        return kept.ids()[i];
      }
    }
    return kept.ids()[kept.count() - 1];
  }

  /** A draw from the whole distribution, the ids in order. */
  private int draw(double[] p, int vocab) {
    double u = random.nextDouble();
    double acc = 0;
    int last = 0;
    for (int i = 0; i < vocab; i++) {
      if (p[i] > 0) {
        acc += p[i];
        last = i;
        if (u < acc) {
          return i;
        }
      }
    }
    return last; // rounding left u at or past the sum
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
