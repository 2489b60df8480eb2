package io.arrakis.engine.sampling;

import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Picks a sequence's next token from its logits: the most likely one (greedy; the lower id on
 * ties), or a draw after temperature, top-k and top-p from the sequence's own random stream, so
 * that a seed gives the same tokens whatever else is in the batch. A logit bias is added first,
 * then {@link Penalties} penalize the tokens it has seen (the prompt's and those it picked), as
 * vLLM orders them; until the sequence has {@link SamplingParams#minTokens} its stop tokens are
 * never picked (vLLM's min-tokens logits processor).
 */
public final class Sampler {
  private final SamplingParams params;
  private final SplittableRandom random;

  /** Ids in the prompt or the output (repetition penalty); null without penalties. */
  private final BitSet seen;

  /** How often each id was generated (frequency and presence penalties); null without. */
  private final Map<Integer, Integer> generated;

  /** The tokens that end the sequence, barred while fewer than min tokens are picked. */
  private final int[] stops;

  private int picks;

  public Sampler(SamplingParams params) {
    this(params, new int[0]);
  }

  /** A sampler for a sequence that starts with {@code prompt} (what penalties count). */
  public Sampler(SamplingParams params, int[] prompt) {
    this.params = params;
    this.random =
        params.seed().isPresent()
            ? new SplittableRandom(params.seed().getAsLong())
            : new SplittableRandom();
    if (params.penalties().none()) {
      seen = null;
      generated = null;
    } else {
      seen = new BitSet();
      for (int t : prompt) {
        seen.set(t);
      }
      generated = new HashMap<>();
    }
    this.stops =
        params.minTokens() == 0
            ? new int[0]
            : Stream.concat(
                    params.stopTokenIds().stream(),
                    params.ignoreEos() ? Stream.empty() : params.eosTokenIds().stream())
                .mapToInt(Integer::intValue)
                .distinct()
                .toArray();
  }

  /**
   * {@code logits[from .. from + vocab)} biased and penalized, in a new array: the logits
   * themselves stay as they are (log-probabilities are reported from them, as vLLM's raw
   * log-probabilities).
   */
  float[] penalized(float[] logits, int from, int vocab) {
    float[] out = Arrays.copyOfRange(logits, from, from + vocab);
    for (Map.Entry<Integer, Float> b : params.logitBias().entrySet()) {
      if (b.getKey() < vocab) {
        out[b.getKey()] += b.getValue();
      }
    }
    if (seen == null) {
      return out;
    }
    Penalties p = params.penalties();
    for (int t = seen.nextSetBit(0); t >= 0 && t < vocab; t = seen.nextSetBit(t + 1)) {
      out[t] = out[t] > 0 ? out[t] / p.repetition() : out[t] * p.repetition();
    }
    for (Map.Entry<Integer, Integer> e : generated.entrySet()) {
      if (e.getKey() < vocab) {
        out[e.getKey()] -= p.frequency() * e.getValue() + p.presence();
      }
    }
    return out;
  }

  /**
   * The stop tokens' logits to -infinity, unless they are the whole vocabulary (then there would be
   * nothing left to pick; the scheduler still ends the sequence no sooner than its min tokens).
   */
  private void bar(float[] row, int vocab) {
    long inVocab = Arrays.stream(stops).filter(t -> t < vocab).count();
    if (inVocab == vocab) {
      return;
    }
    for (int t : stops) {
      if (t < vocab) {
        row[t] = Float.NEGATIVE_INFINITY;
      }
    }
  }

  public SamplingParams params() {
    return params;
  }

  /**
   * The next token from {@code logits[from .. from + vocab)}: a draw from the kept tokens ({@link
   * KeptTokens}, all of them without top-k and top-p), each as likely as its probability among
   * them. With penalties it counts as generated for the picks after it.
   */
  public int next(float[] logits, int from, int vocab) {
    boolean barStops = picks++ < params.minTokens();
    if (seen == null && params.logitBias().isEmpty() && !barStops) {
      return pick(logits, from, vocab);
    }
    float[] row = penalized(logits, from, vocab);
    if (barStops) {
      bar(row, vocab);
    }
    int token = pick(row, 0, vocab);
    if (seen != null) {
      seen.set(token);
      generated.merge(token, 1, Integer::sum);
    }
    return token;
  }

  private int pick(float[] logits, int from, int vocab) {
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
