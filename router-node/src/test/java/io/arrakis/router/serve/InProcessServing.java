package io.arrakis.router.serve;

import io.arrakis.engine.DecoderModel;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.experts.LocalExperts;
import io.arrakis.engine.experts.RoutedExperts;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.model.tokenizer.StopLimits;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * A scheduler over a reference model's engine whose routed experts are computed in this JVM on
 * another thread (so that every MoE layer is a real hand-off, as to expert nodes), for tests.
 */
final class InProcessServing implements AutoCloseable {
  final ActorTestKit testKit;
  final MoeModel moe;
  final Engine engine;
  final ModelTokenizer tokenizer;
  final ServedModel model;
  final PromptPreparer preparer;
  final ActorRef<Scheduler.Command> scheduler;
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final ServingMetrics metrics = new ServingMetrics(registry, 1);
  private final ExecutorService expertThread = Executors.newSingleThreadExecutor();
  private final AtomicLong ids = new AtomicLong();

  InProcessServing(ActorTestKit testKit, String name, ServeSettings settings) throws Exception {
    this(testKit, name, settings, UnaryOperator.identity());
  }

  /**
   * @param experts wraps the in-process experts (e.g. to fail some calls)
   */
  InProcessServing(
      ActorTestKit testKit,
      String name,
      ServeSettings settings,
      UnaryOperator<RoutedExperts> experts)
      throws Exception {
    this.testKit = testKit;
    Path dir = ReferenceModels.dir(name);
    moe = MoeModel.open(dir);
    DecoderModel decoder = Engine.loadDecoder(dir, moe.checkpoint());
    engine =
        Engine.create(
            decoder,
            experts.apply(LocalExperts.load(moe).on(expertThread)),
            new EngineOptions(settings.kvCacheBytesOrDefault(), settings.blockSize()));
    tokenizer = ModelTokenizer.open(dir);
    int context =
        (int)
            Math.min(
                decoder.config().maxPositions(),
                (long) engine.blocks().totalBlocks() * settings.blockSize());
    model = new ServedModel(name, name, context, decoder.config().vocabSize(), true);
    preparer =
        new PromptPreparer(
            tokenizer,
            model,
            new StopLimits(settings.maxStopStrings(), settings.maxStopLength()),
            settings.defaultMaxTokens());
    scheduler = testKit.spawn(Scheduler.create(engine, settings, metrics));
  }

  /**
   * Test settings: a small KV cache in blocks of 4 tokens, the given micro-batches, prefix caching
   * on (the default).
   */
  static ServeSettings settings(int microBatches) {
    return new ServeSettings(
        microBatches,
        64,
        256,
        512,
        4L << 20,
        4,
        16,
        Duration.ofMinutes(1),
        Duration.ofMinutes(5),
        Duration.ofSeconds(30),
        8,
        64,
        1,
        64,
        1024,
        true);
  }

  /**
   * Submits a request straight to the scheduler (prepared on this thread); returns its sequence id.
   */
  long submit(GenerationRequest request, Recorder recorder) throws GenerationRefused {
    PreparedRequest p = preparer.prepare(request, request.receivedNanos());
    long seq = ids.incrementAndGet();
    scheduler.tell(
        new Scheduler.Submit(
            seq,
            p,
            new SequenceOutput(
                recorder,
                tokenizer.newDetokenizer(true),
                tokenizer.tokenizer().vocabSize(),
                p.stops())));
    return seq;
  }

  Recorder generate(GenerationRequest.Prompt prompt, GenerationRequest.Sampling sampling)
      throws GenerationRefused {
    return generate(prompt, sampling, null);
  }

  /** A request whose prompt shares cached blocks only with those of {@code cacheSalt}. */
  Recorder generate(
      GenerationRequest.Prompt prompt, GenerationRequest.Sampling sampling, String cacheSalt)
      throws GenerationRefused {
    Recorder r = new Recorder();
    submit(
        new GenerationRequest(
            "test-" + ids.get(),
            prompt,
            sampling,
            cacheSalt,
            System.nanoTime(),
            System.nanoTime() + Duration.ofMinutes(1).toNanos()),
        r);
    return r;
  }

  Scheduler.State state() {
    TestProbe<Scheduler.State> probe = testKit.createTestProbe();
    scheduler.tell(new Scheduler.GetState(probe.ref()));
    return probe.receiveMessage(Duration.ofSeconds(10));
  }

  @Override
  public void close() throws Exception {
    testKit.stop(scheduler);
    expertThread.shutdownNow();
    tokenizer.close();
    engine.close();
    moe.close();
  }
}
