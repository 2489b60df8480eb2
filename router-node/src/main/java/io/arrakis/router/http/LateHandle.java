package io.arrakis.router.http;

import io.arrakis.router.serve.GenerationHandle;

/**
 * A request's handle known before its submission returns: a listener may want to cancel (a slow
 * reader's buffer is full, the client went away) while {@code submit} is still running.
 */
final class LateHandle implements GenerationHandle {
  private GenerationHandle target;
  private boolean cancelled;

  void set(GenerationHandle h) {
    boolean cancelNow;
    synchronized (this) {
      target = h;
      cancelNow = cancelled;
    }
    if (cancelNow) {
      h.cancel();
    }
  }

  @Override
  public void cancel() {
    GenerationHandle h;
    synchronized (this) {
      cancelled = true;
      h = target;
    }
    if (h != null) {
      h.cancel();
    }
  }
}
