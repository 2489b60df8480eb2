package io.arrakis.router.http;

import io.arrakis.router.serve.GenerationRequest;

/**
 * A checked request of {@code /v1/completions} or {@code /v1/chat/completions}: what the generation
 * service runs, and how the answer is shaped.
 *
 * @param chat a chat completion (messages) rather than a completion (prompt)
 * @param prompt what to continue
 * @param sampling how tokens are picked
 * @param stream answer as server-sent events
 * @param includeUsage with {@code stream}: a last chunk with the usage and no choices
 * @param returnTokenIds the generated ids in {@code choices[0].token_ids} (vLLM's extension)
 * @param echo a completion's prompt comes back before it (with its log-probabilities, when asked)
 * @param cacheSalt vLLM's {@code cache_salt} (null: none): the prefix cache shares the prompt's
 *     blocks only with requests of the same salt
 */
record OpenAiRequest(
    boolean chat,
    GenerationRequest.Prompt prompt,
    GenerationRequest.Sampling sampling,
    boolean stream,
    boolean includeUsage,
    boolean returnTokenIds,
    boolean echo,
    String cacheSalt) {

  /** The request field holding the prompt, named in errors about it. */
  public String promptField() {
    return chat ? "messages" : "prompt";
  }
}
