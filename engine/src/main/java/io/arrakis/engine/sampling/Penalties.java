package io.arrakis.engine.sampling;

/**
 * Penalties on tokens already seen, as OpenAI's API and vLLM define them, applied to the logits
 * before temperature, top-k and top-p: a token in the prompt or the output so far has a positive
 * logit divided by {@code repetition} and a negative one multiplied by it; then a token generated
 * {@code n} times loses {@code frequency · n + presence} (n ≥ 1).
 *
 * @param presence OpenAI's {@code presence_penalty}, in [-2, 2]; 0 = none
 * @param frequency OpenAI's {@code frequency_penalty}, in [-2, 2]; 0 = none
 * @param repetition vLLM's {@code repetition_penalty}, in (0, 10]; 1 = none
 */
public record Penalties(float presence, float frequency, float repetition) {
  public static final Penalties NONE = new Penalties(0f, 0f, 1f);

  public static final float MAX_ADDITIVE = 2f;
  public static final float MAX_REPETITION = 10f;

  public Penalties {
    if (!(Math.abs(presence) <= MAX_ADDITIVE) || !(Math.abs(frequency) <= MAX_ADDITIVE)) {
      throw new IllegalArgumentException(
          "presence and frequency penalties must be in [-2, 2], got "
              + presence
              + " and "
              + frequency);
    }
    if (!(repetition > 0 && repetition <= MAX_REPETITION)) {
      throw new IllegalArgumentException(
          "the repetition penalty must be in (0, 10], got " + repetition);
    }
  }

  public boolean none() {
    return presence == 0 && frequency == 0 && repetition == 1;
  }
}
