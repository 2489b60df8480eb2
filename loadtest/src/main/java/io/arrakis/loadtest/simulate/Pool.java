package io.arrakis.loadtest.simulate;

import java.util.ArrayDeque;

/**
 * A process's fixed pool of threads on a machine: work waits in FIFO order for a thread, then runs
 * on the machine's cores. An expert node's compute threads, a router's dispatcher threads.
 */
final class Pool {
  private record Task(double cpuSeconds, Runnable done) {}

  private final Cpu cpu;
  private final int threads;
  private final ArrayDeque<Task> waiting = new ArrayDeque<>();
  private final Meter busyMeter;
  private int busy;

  Pool(EventLoop loop, Cpu cpu, int threads) {
    this.cpu = cpu;
    this.threads = threads;
    this.busyMeter = new Meter(loop);
  }

  void run(double cpuSeconds, Runnable done) {
    if (busy < threads) {
      start(new Task(cpuSeconds, done));
    } else {
      waiting.add(new Task(cpuSeconds, done));
    }
  }

  private void start(Task t) {
    busy++;
    busyMeter.set(busy);
    cpu.run(
        t.cpuSeconds(),
        () -> {
          busy--;
          busyMeter.set(busy);
          Task next = waiting.poll();
          if (next != null) {
            start(next);
          }
          t.done().run();
        });
  }

  /** Busy threads averaged since the last reset, as a fraction of all threads. */
  double utilisation() {
    return busyMeter.mean() / threads;
  }

  void resetMeter() {
    busyMeter.reset();
  }

  Cpu cpu() {
    return cpu;
  }
}
