package io.arrakis.router.pekko;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Futures that Pekko's Java API hands out (an ask's answer, a stream's termination, an entity's
 * {@code toStrict}) are Scala futures seen as {@link CompletableFuture}s, and that view turns every
 * plain continuation ({@code whenComplete}, {@code thenApply}, {@code thenCompose} …) into its
 * {@code …Async} form on the common pool. With fewer than three cores the common pool has a
 * parallelism of 1, and {@link CompletableFuture} then runs each async continuation on a thread of
 * its own: a new thread for every MoE layer of every step, every request body, every stream's end,
 * each waiting for a core. {@link #plain} gives the continuations back to the thread that completes
 * the Pekko future (an actor's or a stream's, which hands the result on at once).
 */
public final class PekkoFutures {
  private PekkoFutures() {}

  /**
   * A plain {@link CompletableFuture} completed, with {@code stage}'s value or failure, on the
   * thread that completes {@code stage}: its continuations run there (or at once when it is already
   * complete). Continuations must be short, as on any actor's thread.
   */
  public static <T> CompletableFuture<T> plain(CompletionStage<T> stage) {
    CompletableFuture<T> out = new CompletableFuture<>();
    stage.whenCompleteAsync(
        (value, failure) -> {
          if (failure != null) {
            out.completeExceptionally(failure);
          } else {
            out.complete(value);
          }
        },
        Runnable::run);
    return out;
  }
}
