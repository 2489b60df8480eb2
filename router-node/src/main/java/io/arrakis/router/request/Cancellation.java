package io.arrakis.router.request;

/**
 * How a caller gives up on a request it handed to the router's actors (its client cancelled or went
 * away): {@link #cancel} from any thread; the request's coordinator is told at once, or as soon as
 * it starts, and frees what the request holds. Fires at most once.
 */
public final class Cancellation {
  private boolean cancelled;
  private Runnable onCancel;

  /** Never cancelled: for callers that cannot give up. */
  public static Cancellation none() {
    return new Cancellation();
  }

  public void cancel() {
    Runnable run;
    synchronized (this) {
      if (cancelled) {
        return;
      }
      cancelled = true;
      run = onCancel;
      onCancel = null;
    }
    if (run != null) {
      run.run();
    }
  }

  public synchronized boolean isCancelled() {
    return cancelled;
  }

  /** Runs {@code action} on cancellation: at once (on this thread) if it already happened. */
  void onCancel(Runnable action) {
    synchronized (this) {
      if (!cancelled) {
        onCancel = action;
        return;
      }
    }
    action.run();
  }
}
