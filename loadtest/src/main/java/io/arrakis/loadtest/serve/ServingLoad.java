package io.arrakis.loadtest.serve;

import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenIds;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Closed-loop serving load on a router's {@code Generate}: {@code concurrency} streams at a time,
 * each a random prompt of {@code promptTokens} ids generating exactly {@code outputTokens} (greedy,
 * eos ignored), a new one as soon as one ends, until the measured window ends; the run then waits
 * for the streams still open. Throughput counts the tokens that arrived in the window; latencies
 * are those of the requests started in it.
 */
public final class ServingLoad {
  /**
   * @param vocab prompt ids are drawn below it
   */
  public record Options(
      int concurrency,
      int promptTokens,
      int outputTokens,
      Duration warmup,
      Duration duration,
      int vocab,
      long seed) {}

  private final InferenceGrpc.InferenceStub stub;
  private final Options options;

  public ServingLoad(InferenceGrpc.InferenceStub stub, Options options) {
    this.stub = stub;
    this.options = options;
  }

  /** Runs; {@code progress} hears each measured request's end. */
  public ServingResult run(Consumer<ServingResult> progress) throws InterruptedException {
    ServingResult result = new ServingResult();
    long start = System.nanoTime();
    long measureFrom = start + options.warmup().toNanos();
    long measureUntil = measureFrom + options.duration().toNanos();
    AtomicLong ids = new AtomicLong();
    CountDownLatch callers = new CountDownLatch(options.concurrency());
    SplittableRandom seeds = new SplittableRandom(options.seed());
    List<Caller> all = new ArrayList<>();
    for (int i = 0; i < options.concurrency(); i++) {
      all.add(new Caller(seeds.split(), ids, result, measureFrom, measureUntil, callers, progress));
    }
    all.forEach(Caller::next);
    if (!callers.await(
        options.warmup().plus(options.duration()).toSeconds() + 600, TimeUnit.SECONDS)) {
      throw new IllegalStateException("serving load did not end in time");
    }
    result.seconds((measureUntil - measureFrom) / 1e9);
    return result;
  }

  GenerateRequest request(SplittableRandom random, long id) {
    TokenIds.Builder prompt = TokenIds.newBuilder();
    for (int i = 0; i < options.promptTokens(); i++) {
      prompt.addIds(random.nextInt(options.vocab()));
    }
    return GenerateRequest.newBuilder()
        .setRequestId("load-" + id)
        .setTokenIds(prompt)
        .setSampling(
            SamplingParams.newBuilder().setMaxTokens(options.outputTokens()).setIgnoreEos(true))
        .build();
  }

  /**
   * One caller: a stream at a time, the next started by the end of the last (on the transport's
   * thread).
   */
  private final class Caller {
    private final SplittableRandom random;
    private final AtomicLong ids;
    private final ServingResult result;
    private final long measureFrom;
    private final long measureUntil;
    private final CountDownLatch done;
    private final Consumer<ServingResult> progress;

    Caller(
        SplittableRandom random,
        AtomicLong ids,
        ServingResult result,
        long measureFrom,
        long measureUntil,
        CountDownLatch done,
        Consumer<ServingResult> progress) {
      this.random = random;
      this.ids = ids;
      this.result = result;
      this.measureFrom = measureFrom;
      this.measureUntil = measureUntil;
      this.done = done;
      this.progress = progress;
    }

    void next() {
      long now = System.nanoTime();
      if (now >= measureUntil) {
        done.countDown();
        return;
      }
      boolean measured = now >= measureFrom;
      GenerateCall call =
          GenerateCall.start(stub, request(random, ids.incrementAndGet()), Duration.ofMinutes(10));
      call.done()
          .whenComplete(
              (c, e) -> {
                result.windowTokens(c.tokensBetween(measureFrom, measureUntil));
                if (measured) {
                  result.record(c, options.promptTokens());
                  progress.accept(result);
                }
                next();
              });
    }
  }
}
