package io.arrakis.engine.testing;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A logit bias and sampling penalties written out from their definition, in vLLM's order (the bias
 * added; then apply_penalties: repetition on the prompt's and the output's tokens, then frequency
 * times the output count plus presence), for tests to check the sampler against.
 */
public final class PenaltyReference {
  private PenaltyReference() {}

  public static float[] penalize(
      float[] logits,
      int[] prompt,
      List<Integer> output,
      float presence,
      float frequency,
      float repetition) {
    return penalize(logits, Map.of(), prompt, output, presence, frequency, repetition);
  }

  public static float[] penalize(
      float[] logits,
      Map<Integer, Float> bias,
      int[] prompt,
      List<Integer> output,
      float presence,
      float frequency,
      float repetition) {
    float[] out = logits.clone();
    bias.forEach((t, b) -> out[t] += b);
    Set<Integer> seen = new HashSet<>();
    for (int t : prompt) {
      seen.add(t);
    }
    seen.addAll(output);
    for (int t : seen) {
      out[t] = out[t] > 0 ? out[t] / repetition : out[t] * repetition;
    }
    Map<Integer, Integer> counts = new HashMap<>();
    output.forEach(t -> counts.merge(t, 1, Integer::sum));
    counts.forEach((t, n) -> out[t] -= frequency * n + presence);
    return out;
  }
}
