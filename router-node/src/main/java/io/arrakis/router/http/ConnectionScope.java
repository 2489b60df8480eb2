package io.arrakis.router.http;

import io.arrakis.router.serve.GenerationHandle;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The requests in flight on one HTTP connection. When the connection ends (the client closed it, or
 * the server did), whatever is still generating for it is cancelled: its sequence and KV-cache
 * blocks are freed at once instead of running on for nobody.
 */
final class ConnectionScope {
  private final Set<GenerationHandle> running = new HashSet<>();
  private boolean closed;

  /**
   * Tracks {@code h} until {@link #done}; cancels it at once if the connection has already ended.
   */
  void add(GenerationHandle h) {
    synchronized (this) {
      if (!closed) {
        running.add(h);
        return;
      }
    }
    h.cancel();
  }

  synchronized void done(GenerationHandle h) {
    running.remove(h);
  }

  /** The connection ended: cancels what is left. */
  void close() {
    List<GenerationHandle> left;
    synchronized (this) {
      closed = true;
      left = List.copyOf(running);
      running.clear();
    }
    left.forEach(GenerationHandle::cancel);
  }

  synchronized int inFlight() {
    return running.size();
  }
}
