package io.arrakis.router.serve;

/**
 * A request's handle known before its submission returns: a listener may want to cancel (a slow
 * reader's buffer is full, the client went away) while {@code submit} is still running.
 */
public final class LateHandle implements GenerationHandle {
  private GenerationHandle target;
  private boolean cancelled;

  /** The handle {@code submit} returned; a cancellation that came first goes to it now. */
  public void set(GenerationHandle h) {
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
