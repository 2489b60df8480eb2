package io.arrakis.loadtest.simulate;

/** The time average of a level (busy cores, busy threads) since the last reset. */
final class Meter {
  private final EventLoop loop;
  private double level;
  private double since;
  private double lastChange;
  private double area;

  Meter(EventLoop loop) {
    this.loop = loop;
  }

  void set(double value) {
    double now = loop.now();
    area += level * (now - lastChange);
    lastChange = now;
    level = value;
  }

  void reset() {
    double now = loop.now();
    area = 0;
    since = now;
    lastChange = now;
  }

  double mean() {
    double now = loop.now();
    double total = area + level * (now - lastChange);
    return now > since ? total / (now - since) : 0;
  }
}
