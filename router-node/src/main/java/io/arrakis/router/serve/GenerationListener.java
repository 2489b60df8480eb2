package io.arrakis.router.serve;

import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.grpc.Status;
import java.util.List;

/**
 * Receives one request's output. Exactly one of {@link #onFinished} and {@link #onFailed} is
 * called, last. Calls come one at a time from the serving scheduler's thread (or, for a refusal
 * before the request reached it, the caller's or a prompt thread): an implementation hands them on
 * and never blocks (a slow client must not stall every other sequence).
 */
public interface GenerationListener {
  /**
   * Tokens decoded since the last call (usually one) and their text: whole UTF-8 characters only,
   * with anything that may still become a stop string held back; empty while a character is
   * incomplete. {@code logprobs}: one per token when the request asked for them, else empty.
   */
  void onTokens(int[] tokenIds, String text, List<TokenLogprobs> logprobs);

  /**
   * The end: the last tokens, text and log-probabilities (possibly none), why it ended, and the
   * token counts.
   */
  void onFinished(int[] tokenIds, String text, List<TokenLogprobs> logprobs, Finish finish);

  /**
   * The prompt's log-probabilities, when the request asked for them: {@code logprobs.get(k)} is
   * that of {@code promptIds[k + 1]} (the first token has none). Called once, before any token.
   * Front ends that cannot ask for them need not listen.
   */
  default void onPromptLogprobs(int[] promptIds, List<TokenLogprobs> logprobs) {}

  /**
   * The request failed or was refused: INVALID_ARGUMENT (the request), RESOURCE_EXHAUSTED
   * (capacity), DEADLINE_EXCEEDED, UNAVAILABLE (no expert node for a layer), INTERNAL; the
   * description says why.
   */
  void onFailed(Status status);

  /**
   * How a request ended, with its token counts.
   *
   * @param reason stop (eos, a stop token or string), length (max tokens or the context), cancelled
   * @param promptTokens tokens of the prompt as run (after the chat template)
   * @param completionTokens tokens generated (an eos included)
   * @param cachedTokens prompt tokens whose KV cache came from earlier requests (prefix caching),
   *     not computed again
   */
  record Finish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens) {}
}
