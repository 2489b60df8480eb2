package io.arrakis.loadtest.simulate;

import java.util.PriorityQueue;
import java.util.function.BooleanSupplier;

/**
 * Simulated time and the events waiting in it. Events at the same time run in the order they were
 * scheduled, so a run is deterministic.
 */
final class EventLoop {
  private record Event(double time, long seq, Runnable action) implements Comparable<Event> {
    @Override
    public int compareTo(Event o) {
      int c = Double.compare(time, o.time);
      return c != 0 ? c : Long.compare(seq, o.seq);
    }
  }

  private final PriorityQueue<Event> events = new PriorityQueue<>();
  private double now;
  private long seq;
  private long processed;

  double now() {
    return now;
  }

  /** Runs {@code action} at {@code time} (not before now). */
  void at(double time, Runnable action) {
    events.add(new Event(Math.max(time, now), seq++, action));
  }

  void after(double delay, Runnable action) {
    at(now + delay, action);
  }

  /** Runs events until none is left or {@code stop} says so (checked after each event). */
  void run(BooleanSupplier stop) {
    while (!events.isEmpty() && !stop.getAsBoolean()) {
      Event e = events.poll();
      now = e.time();
      processed++;
      e.action().run();
    }
  }

  long processed() {
    return processed;
  }
}
