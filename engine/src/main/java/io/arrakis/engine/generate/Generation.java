package io.arrakis.engine.generate;

/**
 * A finished sequence.
 *
 * @param promptTokens tokens of the prompt
 * @param tokens the generated tokens (a stop token included)
 * @param finishReason why it ended
 * @param prefillNanos time to the first token
 * @param decodeNanos time from the first token to the last
 */
public record Generation(
    int promptTokens,
    int[] tokens,
    FinishReason finishReason,
    long prefillNanos,
    long decodeNanos) {

  /** Prompt tokens per second of prefill. */
  public double prefillTokensPerSecond() {
    return promptTokens / (prefillNanos / 1e9);
  }

  /** Tokens per second after the first. */
  public double decodeTokensPerSecond() {
    return tokens.length <= 1 ? Double.NaN : (tokens.length - 1) / (decodeNanos / 1e9);
  }
}
