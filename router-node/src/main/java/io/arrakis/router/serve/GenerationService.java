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
}
