package io.arrakis.loadtest.serve;

import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenIds;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Serving load on a router, through gRPC {@code Generate} or the OpenAI-compatible HTTP API: random
 * prompts of about {@code promptTokens} ids each generating about {@code outputTokens} (greedy, eos
 * ignored, so that the length is exact; both drawn uniformly within ± {@code rangeRatio}, as vLLM's
 * random data set). Closed loop: {@code concurrency} streams at a time, a new one as soon as one
 * ends. Open loop ({@code requestRate} > 0): Poisson arrivals at that rate, at most {@code
 * concurrency} in flight when it is above 0 (an arrival past it waits, as in vLLM). Requests start
 * until the measured window ends, or until {@code numPrompts} have started after the warm-up when
 * that is set (vLLM's {@code --num-prompts}); the run then waits for the streams still open.
 * Latencies are those of the requests started in the window.
 */
public final class ServingLoad {
  /** Starts one streamed generation of exactly {@code outputTokens} tokens. */
  public interface Client {
    StreamedCall start(String id, int[] prompt, int outputTokens, IntConsumer onTokens);

    /**
     * Readies what {@code streams} streams at once need (connections) before the clock starts, so
     * that the first timed requests do not pay a handshake the later ones do not.
     */
    default void connect(int streams) throws InterruptedException {}
  }

  /**
   * The run: lengths, arrivals and the measured window.
   *
   * @param concurrency closed loop: streams at once; open loop: the most in flight (0: no limit)
   * @param rangeRatio lengths are drawn uniformly from [len·(1−r), len·(1+r)]
   * @param requestRate requests per second (Poisson), or 0 for the closed loop
   * @param duration the measured window (unused when {@code numPrompts} is set)
   * @param vocab prompt ids are drawn below it
   * @param numPrompts requests to measure, the window lasting until the last ends; 0 = {@code
   *     duration}
   * @param prefixTokens random ids that every prompt begins with, before its own {@code
   *     promptTokens} (vLLM's {@code --random-prefix-len}): what a shared system prompt is to
   *     prefix caching
   */
  public record Options(
      int concurrency,
      int promptTokens,
      int outputTokens,
      double rangeRatio,
      double requestRate,
      Duration warmup,
      Duration duration,
      int vocab,
      long seed,
      int numPrompts,
      int prefixTokens) {
    public Options {
      if (promptTokens < 1 || outputTokens < 1) {
        throw new IllegalArgumentException(
            "input and output lengths must be at least 1, got "
                + promptTokens
                + " and "
                + outputTokens);
      }
      if (!(rangeRatio >= 0 && rangeRatio < 1)) {
        throw new IllegalArgumentException("the range ratio must be in [0, 1), got " + rangeRatio);
      }
      if (!(requestRate >= 0) || (requestRate == 0 && concurrency < 1)) {
        throw new IllegalArgumentException(
            "give a concurrency of at least 1 (closed loop) or a request rate above 0");
      }
      if (numPrompts < 0) {
        throw new IllegalArgumentException("the number of prompts must be at least 0");
      }
      if (prefixTokens < 0) {
        throw new IllegalArgumentException(
            "the shared prefix must be at least 0 tokens, got " + prefixTokens);
      }
    }

    /** Closed loop, fixed lengths. */
    public Options(
        int concurrency,
        int promptTokens,
        int outputTokens,
        Duration warmup,
        Duration duration,
        int vocab,
        long seed) {
      this(concurrency, promptTokens, outputTokens, 0, 0, warmup, duration, vocab, seed, 0, 0);
    }

    boolean openLoop() {
      return requestRate > 0;
    }

    /** Whether the run measures a number of requests rather than a window of time. */
    public boolean byCount() {
      return numPrompts > 0;
    }

    /** The longest a run may take: the warm-up, the window (or 10 minutes a prompt), 10 minutes. */
    public Duration bound() {
      Duration window = byCount() ? Duration.ofMinutes(10).multipliedBy(numPrompts) : duration;
      return warmup.plus(window).plusMinutes(10);
    }
  }

  private final Client client;
  private final Options options;

  /** What every prompt begins with (drawn from the seed, apart from the prompts' own ids). */
  private final int[] prefix;

  private final AtomicLong inFlight = new AtomicLong();
  private final AtomicLong tokens = new AtomicLong();
  private final AtomicLong started = new AtomicLong();

  public ServingLoad(InferenceGrpc.InferenceStub stub, Options options) {
    this(grpc(stub), options);
  }

  public ServingLoad(Client client, Options options) {
    this.client = client;
    this.options = options;
    this.prefix =
        new SplittableRandom(~options.seed())
            .ints(options.prefixTokens(), 0, options.vocab())
            .toArray();
  }

  /** gRPC {@code Generate}: greedy, eos ignored, with a generous deadline. */
  public static Client grpc(InferenceGrpc.InferenceStub stub) {
    return (id, prompt, outputTokens, onTokens) -> {
      TokenIds.Builder ids = TokenIds.newBuilder();
      for (int t : prompt) {
        ids.addIds(t);
      }
      GenerateRequest request =
          GenerateRequest.newBuilder()
              .setRequestId(id)
              .setTokenIds(ids)
              .setSampling(
                  SamplingParams.newBuilder().setMaxTokens(outputTokens).setIgnoreEos(true))
              .build();
      return GenerateCall.start(stub, request, Duration.ofMinutes(10), onTokens);
    };
  }

  /** Streams open now. */
  public long inFlight() {
    return inFlight.get();
  }

  /** Tokens received so far, warm-up included. */
  public long tokens() {
    return tokens.get();
  }

  /** Requests started so far. */
  public long started() {
    return started.get();
  }

  /** Runs; {@code progress} hears each measured request's end. */
  public ServingResult run(Consumer<ServingResult> progress) throws InterruptedException {
    if (options.concurrency() > 0) {
      client.connect(options.concurrency());
    }
    ServingResult result = new ServingResult();
    long start = System.nanoTime();
    long measureFrom = start + options.warmup().toNanos();
    long measureUntil =
        options.byCount() ? Long.MAX_VALUE : measureFrom + options.duration().toNanos();
    result.window(
        measureFrom,
        options.byCount() ? 0 : (int) Math.ceil(options.duration().toMillis() / 1000.0));
    Run run = new Run(result, measureFrom, measureUntil, progress);
    long bound = options.bound().toSeconds();
    if (options.openLoop()) {
      run.poisson(new SplittableRandom(options.seed()));
    } else {
      CountDownLatch callers = new CountDownLatch(options.concurrency());
      SplittableRandom seeds = new SplittableRandom(options.seed());
      List<SplittableRandom> randoms = new ArrayList<>();
      for (int i = 0; i < options.concurrency(); i++) {
        randoms.add(seeds.split());
      }
      randoms.forEach(r -> run.closedLoop(r, callers));
      if (!callers.await(bound, TimeUnit.SECONDS)) {
        throw new IllegalStateException("serving load did not end in time");
      }
    }
    run.awaitOpen(bound);
    run.throwIfBroken();
    long end = options.byCount() ? System.nanoTime() : measureUntil;
    result.seconds((end - measureFrom) / 1e9);
    return result;
  }

  int length(SplittableRandom random, int mean) {
    if (options.rangeRatio() == 0) {
      return mean;
    }
    int low = Math.max(1, (int) Math.round(mean * (1 - options.rangeRatio())));
    int high = Math.max(low, (int) Math.round(mean * (1 + options.rangeRatio())));
    return low + random.nextInt(high - low + 1);
  }

  int[] prompt(SplittableRandom random) {
    int[] p = Arrays.copyOf(prefix, prefix.length + length(random, options.promptTokens()));
    for (int i = prefix.length; i < p.length; i++) {
      p[i] = random.nextInt(options.vocab());
    }
    return p;
  }

  private static final int STOP = -1;
  private static final int WARM_UP = 0;
  private static final int MEASURED = 1;

  /** One run's window and its open streams. */
  private final class Run {
    private final ServingResult result;
    private final long measureFrom;
    private final long measureUntil;
    private final Consumer<ServingResult> progress;
    private final AtomicLong measuredStarts = new AtomicLong();

    /**
     * The first exception thrown by this run's own code when a stream ended (recording it, the
     * progress callback, starting the next): it stops the closed loop's callers and fails the run,
     * instead of leaving a caller that never ends and a run that waits for it until its bound.
     */
    private final AtomicReference<RuntimeException> broken = new AtomicReference<>();

    Run(
        ServingResult result,
        long measureFrom,
        long measureUntil,
        Consumer<ServingResult> progress) {
      this.result = result;
      this.measureFrom = measureFrom;
      this.measureUntil = measureUntil;
      this.progress = progress;
    }

    /**
     * Whether a request may start now, and as what: {@link #STOP} past the window or the number of
     * prompts, else {@link #WARM_UP} or {@link #MEASURED}.
     */
    int next() {
      long now = System.nanoTime();
      if (now >= measureUntil) {
        return STOP;
      }
      if (now < measureFrom) {
        return WARM_UP;
      }
      return !options.byCount() || measuredStarts.incrementAndGet() <= options.numPrompts()
          ? MEASURED
          : STOP;
    }

    /** Starts one stream; {@code then} runs after its end is recorded. */
    void launch(SplittableRandom random, boolean measured, Runnable then) {
      int[] prompt = prompt(random);
      int output = length(random, options.outputTokens());
      StreamedCall call =
          client.start(
              "load-" + started.incrementAndGet(),
              prompt,
              output,
              n -> {
                tokens.addAndGet(n);
                result.arrived(System.nanoTime(), n);
              });
      inFlight.incrementAndGet();
      // ended() keeps what it throws in broken: the future has nothing left to report
      CompletableFuture<?> unused =
          call.done().whenComplete((c, e) -> ended(call, prompt.length, measured, then));
    }

    private void ended(StreamedCall call, int promptTokens, boolean measured, Runnable then) {
      try {
        result.windowTokens(call.arrivals().tokensBetween(measureFrom, measureUntil));
        result.windowGaps(call.arrivals().interTokenNanosBetween(measureFrom, measureUntil));
        if (measured) {
          result.record(call, promptTokens);
          progress.accept(result);
        }
      } catch (RuntimeException e) {
        broken.compareAndSet(null, e);
      } finally {
        inFlight.decrementAndGet();
      }
      then.run();
    }

    /** A closed-loop caller: the next stream started by the end of the last. */
    void closedLoop(SplittableRandom random, CountDownLatch done) {
      int next = broken.get() == null ? next() : STOP;
      if (next == STOP) {
        done.countDown();
        return;
      }
      try {
        launch(random, next == MEASURED, () -> closedLoop(random, done));
      } catch (RuntimeException e) {
        broken.compareAndSet(null, e);
        done.countDown();
      }
    }

    void throwIfBroken() {
      RuntimeException e = broken.get();
      if (e != null) {
        throw new IllegalStateException("the serving load broke off: " + e, e);
      }
    }

    /** Poisson arrivals on this thread until the window ends. */
    void poisson(SplittableRandom random) throws InterruptedException {
      Semaphore limit = options.concurrency() > 0 ? new Semaphore(options.concurrency()) : null;
      long next = System.nanoTime();
      while (true) {
        next += (long) (-Math.log(1 - random.nextDouble()) / options.requestRate() * 1e9);
        if (next >= measureUntil || broken.get() != null) {
          return;
        }
        for (long wait = next - System.nanoTime(); wait > 0; wait = next - System.nanoTime()) {
          LockSupport.parkNanos(wait);
          if (Thread.interrupted()) {
            throw new InterruptedException();
          }
        }
        if (limit != null) {
          limit.acquire();
        }
        int kind = next();
        if (kind == STOP) {
          if (limit != null) {
            limit.release();
          }
          return;
        }
        launch(random, kind == MEASURED, limit == null ? () -> {} : limit::release);
      }
    }

    void awaitOpen(long boundSeconds) throws InterruptedException {
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(boundSeconds);
      while (inFlight.get() > 0) {
        if (System.nanoTime() > until) {
          throw new IllegalStateException(inFlight.get() + " streams still open at the end");
        }
        Thread.sleep(5);
      }
    }
  }
}
