package io.arrakis.router.serve;

/**
 * Where the public APIs hand generation requests: the gRPC {@code Generate} call, and the
 * OpenAI-compatible HTTP API. Checks the request, tokenizes it (chat template, stop strings,
 * limits), admits it or refuses it at once, and streams its tokens to the listener.
 */
public interface GenerationService {
  /**
   * Starts a request. Never blocks and never throws for the request's content: every outcome, a
   * refusal included, reaches {@code listener} (exactly one last call).
   */
  GenerationHandle submit(GenerationRequest request, GenerationListener listener);

  /** What is served. */
  ServedModel model();

  /**
   * One token's text as the tokenizer decodes it alone (what log-probabilities are listed under, as
   * vLLM lists them; a piece of a character shows as U+FFFD), or {@code token_id:N} for an id
   * without text (no tokenizer, or an id past it).
   */
  String tokenText(int id);

  /**
   * The text of token ids as the tokenizer decodes them, special tokens kept (a completion's echoed
   * prompt); empty without a tokenizer.
   */
  String decode(int[] ids);
}
