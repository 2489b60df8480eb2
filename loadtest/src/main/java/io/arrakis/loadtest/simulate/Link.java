package io.arrakis.loadtest.simulate;

/**
 * One direction of a machine's network link: messages go out one after another at its bandwidth
 * (FIFO). A message between two machines takes both ends' links at once; it has arrived when the
 * slower end is done, plus the latency.
 */
final class Link {
  private final double bytesPerSecond;
  private double freeAt;
  private double busySeconds;
  private double busyAtReset;
  private double resetAt;

  Link(double gbps) {
    this.bytesPerSecond = gbps * 1e9 / 8;
  }

  /**
   * Books the link for {@code bytes} from {@code now} (after what it already carries); returns when
   * they are through.
   */
  double reserve(double now, long bytes) {
    double start = Math.max(now, freeAt);
    freeAt = start + bytes / bytesPerSecond;
    busySeconds += freeAt - start;
    return freeAt;
  }

  void resetMeter(double now) {
    busyAtReset = busySeconds;
    resetAt = now;
  }

  /** Fraction of the time since the last reset the link carried data (time booked ahead counts). */
  double utilisation(double now) {
    return now > resetAt ? Math.min(1, (busySeconds - busyAtReset) / (now - resetAt)) : 0;
  }
}
