package io.arrakis.router.serve;

/**
 * Micro-batch overlap: how long the router (the scheduler computing a step's attention, gates,
 * shared experts, LM head, sampling) and the expert nodes (an MoE layer handed off and not yet
 * answered) were busy, alone or both at once. Ping-pong works when "both" is a large share of the
 * time either is busy. Thread-safe: the router side is marked by the scheduler, the expert side
 * also by the threads that complete the hand-offs.
 */
final class BusyTracker {
  private final long start = System.nanoTime();
  private long since = start;
  private boolean router;
  private int experts;
  private long routerOnly;
  private long expertsOnly;
  private long both;

  /** What the counters said at a moment, in nanoseconds. */
  public record Snapshot(long routerOnly, long expertsOnly, long both, long elapsed) {
    /** Share of the time anything was busy during which both were: 0 when they never overlapped. */
    public double overlap() {
      long any = routerOnly + expertsOnly + both;
      return any == 0 ? 0 : (double) both / any;
    }

    /** Time neither side was busy. */
    public long idle() {
      return elapsed - routerOnly - expertsOnly - both;
    }
  }

  public synchronized void router(boolean busy) {
    account();
    router = busy;
  }

  public synchronized void expertsStarted() {
    account();
    experts++;
  }

  public synchronized void expertsEnded() {
    account();
    experts--;
  }

  public synchronized Snapshot snapshot() {
    account();
    return new Snapshot(routerOnly, expertsOnly, both, since - start);
  }

  private void account() {
    long now = System.nanoTime();
    long d = now - since;
    since = now;
    if (router && experts > 0) {
      both += d;
    } else if (router) {
      routerOnly += d;
    } else if (experts > 0) {
      expertsOnly += d;
    }
  }
}
