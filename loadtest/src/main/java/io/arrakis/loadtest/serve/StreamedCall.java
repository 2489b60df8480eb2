package io.arrakis.loadtest.serve;

import java.util.concurrent.CompletableFuture;

/**
 * One streamed generation as its client sees it, whatever carried it (gRPC {@code Generate} or an
 * OpenAI-compatible SSE stream): when each token-bearing message arrived, how it ended.
 */
public interface StreamedCall {
  /** Completes (never exceptionally) when the stream has ended, well or not. */
  CompletableFuture<? extends StreamedCall> done();

  boolean ok();

  /** How a failed call failed, as a report groups failures: a gRPC code or "HTTP 429" … */
  String failure();

  /** Tokens received. */
  int tokenCount();

  /** When it started, when its tokens arrived, when it ended. */
  TokenArrivals arrivals();
}
