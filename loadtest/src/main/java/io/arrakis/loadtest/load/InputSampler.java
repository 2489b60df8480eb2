package io.arrakis.loadtest.load;

import java.util.SplittableRandom;

/**
 * Hidden states whose routing follows the model's popularity skew: the synthetic generator made its
 * gates for inputs {@code bias + N(0, 1)} and recorded that bias; a model without one gets standard
 * normal inputs.
 */
final class InputSampler {
  private final int hidden;
  private final float[] bias;
  private final SplittableRandom random;

  /**
   * @param bias the model's input bias [hidden], or null for none
   */
  public InputSampler(int hidden, float[] bias, long seed) {
    if (bias != null && bias.length != hidden) {
      throw new IllegalArgumentException(
          "input bias has " + bias.length + " values, the model's hidden size is " + hidden);
    }
    this.hidden = hidden;
    this.bias = bias == null ? null : bias.clone();
    this.random = new SplittableRandom(seed);
  }

  /** A row-major [tokens, hidden] sample. */
  public float[] sample(int tokens) {
    float[] x = new float[tokens * hidden];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextGaussian() + (bias == null ? 0f : bias[i % hidden]);
    }
    return x;
  }

  public SplittableRandom random() {
    return random;
  }

  public boolean skewed() {
    return bias != null;
  }
}
