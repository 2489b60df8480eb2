package io.arrakis.loadtest.simulate;

import java.util.ArrayList;
import java.util.List;

/**
 * A machine's cores, shared by processor sharing (as an operating system's scheduler shares them):
 * n jobs on c cores each progress at min(1, c / n) CPU seconds per second.
 */
final class Cpu {
  private static final class Job {
    double remaining;
    final Runnable done;

    Job(double remaining, Runnable done) {
      this.remaining = remaining;
      this.done = done;
    }
  }

  private final EventLoop loop;
  private final String name;
  private final double cores;
  private final List<Job> jobs = new ArrayList<>();
  private double last;
  private long epoch;
  private final Meter busy;

  Cpu(EventLoop loop, String name, double cores) {
    this.loop = loop;
    this.name = name;
    this.cores = cores;
    this.busy = new Meter(loop);
  }

  String name() {
    return name;
  }

  double cores() {
    return cores;
  }

  /** Runs {@code cpuSeconds} of work; {@code done} runs when it is finished. */
  void run(double cpuSeconds, Runnable done) {
    advance();
    jobs.add(new Job(Math.max(0, cpuSeconds), done));
    busy.set(Math.min(jobs.size(), cores));
    schedule();
  }

  /** Busy cores averaged since the meter's last reset, as a fraction of all cores. */
  double utilisation() {
    return busy.mean() / cores;
  }

  void resetMeter() {
    busy.reset();
  }

  private double rate() {
    return Math.min(1.0, cores / jobs.size());
  }

  private void advance() {
    double dt = loop.now() - last;
    if (dt > 0 && !jobs.isEmpty()) {
      double progress = dt * rate();
      for (Job j : jobs) {
        j.remaining -= progress;
      }
    }
    last = loop.now();
  }

  private void schedule() {
    long mine = ++epoch;
    if (jobs.isEmpty()) {
      return;
    }
    double least = Double.POSITIVE_INFINITY;
    for (Job j : jobs) {
      least = Math.min(least, j.remaining);
    }
    loop.after(Math.max(0, least) / rate(), () -> finish(mine));
  }

  private void finish(long scheduled) {
    if (scheduled != epoch) {
      return; // the job mix changed since: a later event stands
    }
    advance();
    double least = Double.POSITIVE_INFINITY;
    for (Job j : jobs) {
      least = Math.min(least, j.remaining);
    }
    // jobs that end together (within rounding) end in this event, in the order they started
    double cutoff = least + 1e-12;
    List<Runnable> ended = new ArrayList<>();
    jobs.removeIf(
        j -> {
          if (j.remaining <= cutoff) {
            ended.add(j.done);
            return true;
          }
          return false;
        });
    busy.set(Math.min(jobs.size(), cores));
    schedule();
    ended.forEach(Runnable::run);
  }
}
