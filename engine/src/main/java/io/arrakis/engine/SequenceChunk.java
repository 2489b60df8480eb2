package io.arrakis.engine;

/**
 * A sequence's new tokens in one batch step: a prefill chunk or one decode token.
 *
 * @param seq the sequence's id (its KV cache is kept under it until released)
 * @param tokens the new token ids, at the positions after what the sequence has cached
 * @param allLogits return logits for every new token, not just the last
 */
public record SequenceChunk(long seq, int[] tokens, boolean allLogits) {
  public SequenceChunk {
    if (tokens.length == 0) {
      throw new IllegalArgumentException(
          "sequence " + seq + ": a step needs at least one new token");
    }
  }

  /** Only the next-token logits. */
  public static SequenceChunk of(long seq, int... tokens) {
    return new SequenceChunk(seq, tokens, false);
  }
}
