package io.arrakis.router.serve;

/** A submitted request, for its caller to give up on. */
@FunctionalInterface
public interface GenerationHandle {
  /**
   * Cancels the request (its client went away): its sequence and KV-cache blocks are freed at once
   * (a sequence in a step in flight, when that step ends); the listener's last call says {@code
   * cancelled} unless the request had already ended. Safe to call more than once, from any thread.
   */
  void cancel();
}
