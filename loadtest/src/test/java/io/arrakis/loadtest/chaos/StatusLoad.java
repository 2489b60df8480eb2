package io.arrakis.loadtest.chaos;

import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Load for the chaos tests that, unlike the load tester's driver, also times the failed calls (a
 * rejection must be fast, not only counted) and can send open-loop at a fixed rate. Every call is
 * counted once: sent = ok + failed + unanswered.
 */
final class StatusLoad {
  private static final long MAX_MICROS = TimeUnit.MINUTES.toMicros(2);

  /** What a phase gave. Latencies in µs, per status name ("OK" for the answered ones). */
  record Result(
      double seconds,
      long sent,
      long ok,
      long failed,
      long unanswered,
      long tokensOk,
      Map<String, Long> byStatus,
      Map<String, Histogram> latency,
      List<String> failureMessages) {
    double tokensPerSecond() {
      return tokensOk / seconds;
    }

    double okPerSecond() {
      return ok / seconds;
    }

    /** Windows taken as one phase: their seconds, counts and histograms added up. */
    static Result combine(List<Result> windows) {
      Map<String, Long> byStatus = new TreeMap<>();
      Map<String, Histogram> latency = new TreeMap<>();
      List<String> messages = new ArrayList<>();
      for (Result w : windows) {
        w.byStatus.forEach((k, v) -> byStatus.merge(k, v, Long::sum));
        w.latency.forEach((k, v) -> latency.computeIfAbsent(k, x -> new Histogram(3)).add(v));
        messages.addAll(w.failureMessages);
      }
      return new Result(
          windows.stream().mapToDouble(Result::seconds).sum(),
          windows.stream().mapToLong(Result::sent).sum(),
          windows.stream().mapToLong(Result::ok).sum(),
          windows.stream().mapToLong(Result::failed).sum(),
          windows.stream().mapToLong(Result::unanswered).sum(),
          windows.stream().mapToLong(Result::tokensOk).sum(),
          byStatus,
          latency,
          List.copyOf(messages.subList(0, Math.min(20, messages.size()))));
    }

    double millis(String status, double percentile) {
      Histogram h = latency.get(status);
      return h == null || h.getTotalCount() == 0
          ? Double.NaN
          : h.getValueAtPercentile(percentile) / 1000.0;
    }

    double maxMillis(String status) {
      Histogram h = latency.get(status);
      return h == null || h.getTotalCount() == 0 ? Double.NaN : h.getMaxValue() / 1000.0;
    }

    @Override
    public String toString() {
      return String.format(
          "%.1f s: sent %d ok %d failed %d unanswered %d %s, %.0f tokens/s, ok p50 %.1f p99 %.1f ms%s",
          seconds,
          sent,
          ok,
          failed,
          unanswered,
          byStatus,
          tokensPerSecond(),
          millis("OK", 50),
          millis("OK", 99),
          byStatus.containsKey("RESOURCE_EXHAUSTED")
              ? String.format(
                  ", rejected p50 %.2f p99 %.2f max %.2f ms",
                  millis("RESOURCE_EXHAUSTED", 50),
                  millis("RESOURCE_EXHAUSTED", 99),
                  maxMillis("RESOURCE_EXHAUSTED"))
              : "");
    }
  }

  private final ManagedChannel channel;
  private final List<ForwardRequest> pool = new ArrayList<>();
  private final int tokens;
  private final Duration deadline;

  /**
   * A pool of 64 requests of {@code tokens} standard-normal tokens, alternating over {@code
   * layers}.
   */
  StatusLoad(
      ManagedChannel channel,
      int hidden,
      List<Integer> layers,
      int tokens,
      Duration deadline,
      long seed) {
    this.channel = channel;
    this.tokens = tokens;
    this.deadline = deadline;
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = 0; i < 64; i++) {
      float[] x = new float[tokens * hidden];
      for (int j = 0; j < x.length; j++) {
        x[j] = (float) random.nextGaussian();
      }
      pool.add(
          ForwardRequest.newBuilder()
              .setRequestId("chaos-" + i)
              .setLayer(layers.get(i % layers.size()))
              .setHiddenStates(TensorCodec.encodeFloat(x, tokens, hidden))
              .build());
    }
  }

  /** One phase: counters and histograms. */
  private final class Phase {
    final AtomicLong sent = new AtomicLong();
    final AtomicLong ok = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicLong tokensOk = new AtomicLong();
    final Map<String, Recorder> latency = new ConcurrentHashMap<>();
    final Map<String, AtomicLong> byStatus = new ConcurrentHashMap<>();
    final List<String> messages = Collections.synchronizedList(new ArrayList<>());
    final AtomicLong next = new AtomicLong();
    final long start = System.nanoTime();
    final long stopAt;
    final AtomicLong lastAnswer = new AtomicLong(start);

    Phase(Duration duration) {
      stopAt = start + duration.toNanos();
    }

    /** Sends one call; {@code done} runs (on a gRPC thread) with whether it was OK. */
    void send(Consumer<Boolean> done) {
      ForwardRequest r = pool.get((int) (next.getAndIncrement() % pool.size()));
      long t0 = System.nanoTime();
      sent.incrementAndGet();
      InferenceGrpc.newStub(channel)
          .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
          .forward(
              r,
              new StreamObserver<ForwardResponse>() {
                private volatile boolean answered;

                @Override
                public void onNext(ForwardResponse value) {
                  answered = true;
                }

                @Override
                public void onError(Throwable t) {
                  Status s = Status.fromThrowable(t);
                  record(s.getCode().name(), t0);
                  failed.incrementAndGet();
                  if (messages.size() < 20) {
                    messages.add(s.getCode() + ": " + s.getDescription());
                  }
                  done.accept(false);
                }

                @Override
                public void onCompleted() {
                  record("OK", t0);
                  ok.incrementAndGet();
                  tokensOk.addAndGet(tokens);
                  done.accept(true);
                }
              });
    }

    private void record(String status, long t0) {
      long now = System.nanoTime();
      lastAnswer.accumulateAndGet(now, Math::max);
      long micros = Math.min(MAX_MICROS, Math.max(1, (now - t0) / 1000));
      latency.computeIfAbsent(status, k -> new Recorder(3)).recordValue(micros);
      byStatus.computeIfAbsent(status, k -> new AtomicLong()).incrementAndGet();
    }

    /**
     * The phase's counts once its calls are answered, over its time until the last answer: the
     * calls still in flight when sending stops count, and so does the time they take (a closed and
     * an open loop compare fairly, whatever their length).
     */
    Result result() throws InterruptedException {
      // drain: every call ends by its deadline (plus slack)
      long until = System.nanoTime() + deadline.plusSeconds(5).toNanos();
      while (ok.get() + failed.get() < sent.get() && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      Map<String, Histogram> h = new TreeMap<>();
      latency.forEach((k, v) -> h.put(k, v.getIntervalHistogram()));
      Map<String, Long> counts = new TreeMap<>();
      byStatus.forEach((k, v) -> counts.put(k, v.get()));
      long s = sent.get();
      long o = ok.get();
      long f = failed.get();
      return new Result(
          (Math.max(stopAt, lastAnswer.get()) - start) / 1e9,
          s,
          o,
          f,
          s - o - f,
          tokensOk.get(),
          counts,
          h,
          List.copyOf(messages));
    }
  }

  /** {@code callers} callers, one call in flight each; after a failure a caller pauses 20 ms. */
  Result closedLoop(int callers, Duration duration) throws InterruptedException {
    Phase p = new Phase(duration);
    ScheduledExecutorService pauses = Executors.newSingleThreadScheduledExecutor();
    CountDownLatch stopped = new CountDownLatch(callers);
    try {
      for (int i = 0; i < callers; i++) {
        new Object() {
          void go() {
            if (System.nanoTime() >= p.stopAt) {
              stopped.countDown();
              return;
            }
            p.send(
                ok -> {
                  if (ok) {
                    go();
                  } else {
                    pauses.schedule(this::go, 20, TimeUnit.MILLISECONDS);
                  }
                });
          }
        }.go();
      }
      stopped.await(duration.plus(deadline).plusSeconds(10).toMillis(), TimeUnit.MILLISECONDS);
      return p.result();
    } finally {
      pauses.shutdownNow();
    }
  }

  /**
   * Open loop: {@code perSecond} calls a second, evenly spaced, whatever the answers. Each call
   * goes out at its own due time (bursts of calls sent together would queue behind each other in
   * this client and the router, and time that queue rather than the answers); a sender that falls
   * behind catches up at once. Latency runs from the actual send.
   */
  Result openLoop(double perSecond, Duration duration) throws InterruptedException {
    Phase p = new Phase(duration);
    long interval = Math.max(1, Math.round(1e9 / perSecond));
    for (long due = p.start; due < p.stopAt; due += interval) {
      for (long wait = due - System.nanoTime(); wait > 0; wait = due - System.nanoTime()) {
        LockSupport.parkNanos(wait);
      }
      p.send(ok -> {});
    }
    return p.result();
  }
}
