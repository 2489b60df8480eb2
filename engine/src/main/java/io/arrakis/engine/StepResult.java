package io.arrakis.engine;

import java.util.List;

/**
 * The logits of a step, per chunk in the order given: [vocab] for the next token, or [tokens,
 * vocab] row-major when the chunk asked for all.
 */
public record StepResult(List<float[]> logits, int vocab) {
  public float[] logits(int chunk) {
    return logits.get(chunk);
  }
}
