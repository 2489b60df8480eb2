package io.arrakis.engine.sampling;

import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Consumer;

/**
 * How a sequence's tokens are chosen and when it stops.
 *
 * @param maxTokens the most tokens to generate
 * @param temperature 0 for greedy; else logits are divided by it before sampling
 * @param topK keep the k most likely tokens (0: all)
 * @param topP keep the smallest set of most likely tokens whose probability reaches p (1: all)
 * @param seed the sampler's seed: the same seed gives the same tokens; empty for a random one
 * @param stopTokenIds tokens that end the sequence (the stop token is returned)
 * @param eosTokenIds the model's end-of-sequence tokens (from generation_config.json or the
 *     tokenizer)
 * @param ignoreEos keep going past eos
 * @param minTokens the sequence cannot end before this many tokens (vLLM's {@code min_tokens}): its
 *     stop and eos tokens are not picked until then
 * @param logprobs -1: none; else each token's log-probability is returned with those of this many
 *     most likely tokens ({@link TokenLogprobs})
 * @param penalties on tokens already in the prompt or the output ({@link Penalties#NONE}: none)
 * @param logitBias added to these tokens' logits before the penalties (OpenAI's {@code logit_bias}:
 *     -100 bans a token, 100 all but forces it)
 */
public record SamplingParams(
    int maxTokens,
    float temperature,
    int topK,
    float topP,
    OptionalLong seed,
    Set<Integer> stopTokenIds,
    Set<Integer> eosTokenIds,
    boolean ignoreEos,
    int minTokens,
    int logprobs,
    Penalties penalties,
    Map<Integer, Float> logitBias) {

  /** The largest bias either way, as OpenAI's API bounds it. */
  public static final float MAX_BIAS = 100f;

  public SamplingParams {
    if (maxTokens < 1) {
      throw new IllegalArgumentException("max tokens must be at least 1, got " + maxTokens);
    }
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException(
          "temperature must be a finite number >= 0, got " + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    }
    if (minTokens < 0 || minTokens > maxTokens) {
      throw new IllegalArgumentException(
          "min tokens must be in [0, max tokens = " + maxTokens + "], got " + minTokens);
    }
    if (logprobs < -1) {
      throw new IllegalArgumentException("logprobs must be >= -1 (-1: none), got " + logprobs);
    }
    stopTokenIds = Set.copyOf(stopTokenIds);
    eosTokenIds = Set.copyOf(eosTokenIds);
    Objects.requireNonNull(penalties, "penalties");
    for (Map.Entry<Integer, Float> b : logitBias.entrySet()) {
      if (b.getKey() < 0 || !(Math.abs(b.getValue()) <= MAX_BIAS)) {
        throw new IllegalArgumentException(
            "a logit bias is a token id >= 0 and a value in [-100, 100], got " + b);
      }
    }
    logitBias = Map.copyOf(logitBias);
  }

  /** Greedy decoding of up to {@code maxTokens}, stopping at eos. */
  public static SamplingParams greedy(int maxTokens, Set<Integer> eos) {
    return new SamplingParams(
        maxTokens,
        0f,
        0,
        1f,
        OptionalLong.empty(),
        Set.of(),
        eos,
        false,
        0,
        -1,
        Penalties.NONE,
        Map.of());
  }

  public SamplingParams withTemperature(float t) {
    return with(c -> c.temperature = t);
  }

  public SamplingParams withTopK(int k) {
    return with(c -> c.topK = k);
  }

  public SamplingParams withTopP(float p) {
    return with(c -> c.topP = p);
  }

  public SamplingParams withSeed(long s) {
    return with(c -> c.seed = OptionalLong.of(s));
  }

  public SamplingParams withStopTokenIds(Set<Integer> ids) {
    return with(c -> c.stopTokenIds = ids);
  }

  public SamplingParams withIgnoreEos(boolean ignore) {
    return with(c -> c.ignoreEos = ignore);
  }

  public SamplingParams withMinTokens(int n) {
    return with(c -> c.minTokens = n);
  }

  public SamplingParams withLogprobs(int top) {
    return with(c -> c.logprobs = top);
  }

  public SamplingParams withPenalties(Penalties p) {
    return with(c -> c.penalties = p);
  }

  public SamplingParams withLogitBias(Map<Integer, Float> bias) {
    return with(c -> c.logitBias = bias);
  }

  /** A copy with {@code change} applied, checked as every instance is. */
  private SamplingParams with(Consumer<Copy> change) {
    Copy c = new Copy(this);
    change.accept(c);
    return new SamplingParams(
        c.maxTokens,
        c.temperature,
        c.topK,
        c.topP,
        c.seed,
        c.stopTokenIds,
        c.eosTokenIds,
        c.ignoreEos,
        c.minTokens,
        c.logprobs,
        c.penalties,
        c.logitBias);
  }

  /** The components of an instance, to change some before making a new one. */
  private static final class Copy {
    int maxTokens;
    float temperature;
    int topK;
    float topP;
    OptionalLong seed;
    Set<Integer> stopTokenIds;
    Set<Integer> eosTokenIds;
    boolean ignoreEos;
    int minTokens;
    int logprobs;
    Penalties penalties;
    Map<Integer, Float> logitBias;

    Copy(SamplingParams p) {
      maxTokens = p.maxTokens;
      temperature = p.temperature;
      topK = p.topK;
      topP = p.topP;
      seed = p.seed;
      stopTokenIds = p.stopTokenIds;
      eosTokenIds = p.eosTokenIds;
      ignoreEos = p.ignoreEos;
      minTokens = p.minTokens;
      logprobs = p.logprobs;
      penalties = p.penalties;
      logitBias = p.logitBias;
    }
  }

  public boolean greedy() {
    return temperature == 0f;
  }

  /** Whether {@code token} ends the sequence (once it has {@link #minTokens}). */
  public boolean stopsAt(int token) {
    return stopTokenIds.contains(token) || (!ignoreEos && eosTokenIds.contains(token));
  }
}
