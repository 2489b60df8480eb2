package io.arrakis.engine.sampling;

/**
 * A generated token's log-probability and the most likely tokens' at its position, from the model's
 * logits as they are (a log-softmax before temperature, top-k and top-p: vLLM's default, {@code
 * raw_logprobs}), so that they say what the model thinks whatever the sampling.
 *
 * @param token the chosen token
 * @param logprob its log-probability
 * @param topIds the most likely tokens, best first (the lower id first on ties); the chosen one
 *     among them only if it is one of them
 * @param topLogprobs their log-probabilities
 */
public record TokenLogprobs(int token, float logprob, int[] topIds, float[] topLogprobs) {

  /**
   * The log-probabilities of {@code token} and of the {@code top} most likely tokens, from {@code
   * logits[from .. from + vocab)}.
   */
  public static TokenLogprobs of(float[] logits, int from, int vocab, int token, int top) {
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      max = Math.max(max, logits[from + i]);
    }
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      sum += Math.exp(logits[from + i] - max);
    }
    double logSum = max + Math.log(sum);
    int[] ids = top == 0 ? new int[0] : TopTokens.of(logits, from, vocab, top);
    float[] lps = new float[ids.length];
    for (int i = 0; i < ids.length; i++) {
      lps[i] = (float) (logits[from + ids[i]] - logSum);
    }
    return new TokenLogprobs(token, (float) (logits[from + token] - logSum), ids, lps);
  }
}
