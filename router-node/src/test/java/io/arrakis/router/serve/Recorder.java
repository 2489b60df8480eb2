package io.arrakis.router.serve;

import io.arrakis.engine.sampling.TokenLogprobs;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A listener that keeps what a request streamed and how it ended (and fails a test on a second
 * ending).
 */
final class Recorder implements GenerationListener {
  final List<Integer> tokens = new ArrayList<>();
  final StringBuilder text = new StringBuilder();

  /** Chunks streamed before the last one. */
  int chunks;

  /** The prompt's log-probabilities, when asked for (null until they come). */
  volatile List<TokenLogprobs> promptLogprobs;

  final CompletableFuture<Finish> finished = new CompletableFuture<>();
  final CompletableFuture<Void> firstToken = new CompletableFuture<>();
  volatile Status failure;
  private int endings;

  @Override
  public synchronized void onTokens(int[] tokenIds, String delta, List<TokenLogprobs> logprobs) {
    if (endings > 0) {
      throw new AssertionError("tokens after the end");
    }
    for (int t : tokenIds) {
      tokens.add(t);
    }
    text.append(delta);
    chunks++;
    firstToken.complete(null);
  }

  @Override
  public synchronized void onFinished(
      int[] tokenIds, String delta, List<TokenLogprobs> logprobs, Finish finish) {
    if (++endings > 1) {
      throw new AssertionError("answered twice");
    }
    for (int t : tokenIds) {
      tokens.add(t);
    }
    text.append(delta);
    finished.complete(finish);
  }

  @Override
  public synchronized void onPromptLogprobs(int[] promptIds, List<TokenLogprobs> logprobs) {
    if (promptLogprobs != null || !tokens.isEmpty() || endings > 0) {
      throw new AssertionError("prompt log-probabilities twice, or after tokens");
    }
    promptLogprobs = logprobs;
  }

  @Override
  public synchronized void onFailed(Status status) {
    if (++endings > 1) {
      throw new AssertionError("answered twice");
    }
    failure = status;
    finished.completeExceptionally(status.asRuntimeException());
  }

  /** The tokens once it finished (within a minute). */
  int[] await() throws Exception {
    finished.get(60, TimeUnit.SECONDS);
    synchronized (this) {
      return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
  }

  Finish finish() throws Exception {
    return finished.get(60, TimeUnit.SECONDS);
  }
}
