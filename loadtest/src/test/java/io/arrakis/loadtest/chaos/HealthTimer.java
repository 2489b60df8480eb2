package io.arrakis.loadtest.chaos;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.health.v1.HealthGrpc.HealthBlockingStub;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Times grpc.health.v1 checks of the router, one every 10 ms on a thread of its own, during the
 * windows it is given ({@link #during}); one histogram over all of them. The cheapest call the
 * router serves: how long the router (and the machine) takes to answer at all, to compare the
 * rejections with.
 */
final class HealthTimer {
  private final Histogram histogram = new Histogram(3);
  private final HealthBlockingStub stub;

  HealthTimer(ManagedChannel ch) {
    stub = HealthGrpc.newBlockingStub(ch);
  }

  /** Runs {@code work} with the checks going on beside it, and returns what it returns. */
  <T> T during(Callable<T> work) throws Exception {
    Window w = new Window();
    w.thread.start();
    try {
      return work.call();
    } finally {
      w.running = false;
      w.thread.join(10_000);
    }
  }

  private final class Window {
    volatile boolean running = true;
    final Thread thread = new Thread(this::check, "health-timer");

    Window() {
      thread.setDaemon(true);
    }

    private void check() {
      while (running) {
        long t0 = System.nanoTime();
        try {
          stub.withDeadlineAfter(5, TimeUnit.SECONDS)
              .check(HealthCheckRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
          // timed all the same
        }
        synchronized (histogram) {
          histogram.recordValue(Math.max(1, (System.nanoTime() - t0) / 1000));
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          return;
        }
      }
    }
  }

  long count() {
    synchronized (histogram) {
      return histogram.getTotalCount();
    }
  }

  double millis(double percentile) {
    synchronized (histogram) {
      return histogram.getTotalCount() == 0
          ? Double.NaN
          : histogram.getValueAtPercentile(percentile) / 1000.0;
    }
  }

  double maxMillis() {
    synchronized (histogram) {
      return histogram.getTotalCount() == 0 ? Double.NaN : histogram.getMaxValue() / 1000.0;
    }
  }
}
