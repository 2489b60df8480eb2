package io.arrakis.router.serve;

import io.arrakis.engine.DecoderModel;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.model.tokenizer.StopLimits;
import io.arrakis.router.request.RouterGuardian;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Generation on a router serving a whole model: the {@link GenerationService} the public APIs call.
 * Requests past {@code max-sequences} are refused at once (RESOURCE_EXHAUSTED); the others are
 * tokenized on a small bounded pool (never on a transport thread) and handed to the {@link
 * Scheduler}, which owns the engine; the engine's routed experts are the cluster's ({@link
 * ClusterExperts}).
 */
public final class Serving implements GenerationService, AutoCloseable {
  /** Dispatcher (from config) of the scheduler: one thread of its own. */
  public static final String ENGINE_DISPATCHER = "arrakis.router.engine-dispatcher";

  private static final Logger log = LoggerFactory.getLogger(Serving.class);

  private final Engine engine;
  private final ModelTokenizer tokenizer;

  /** Tokens' texts decoded alone, as log-probabilities name them: each decoded once. */
  private final AtomicReferenceArray<String> tokenTexts;

  private final ActorRef<Scheduler.Command> scheduler;
  private final PromptPreparer preparer;
  private final ServedModel model;
  private final ServeSettings settings;
  private final ServingMetrics metrics;
  private final ThreadPoolExecutor prompts;
  private final AtomicInteger accepted = new AtomicInteger();
  private final AtomicLong ids = new AtomicLong();

  private Serving(
      Engine engine,
      ModelTokenizer tokenizer,
      ActorRef<Scheduler.Command> scheduler,
      ServedModel model,
      ServeSettings settings,
      ServingMetrics metrics) {
    this.engine = engine;
    this.tokenizer = tokenizer;
    this.tokenTexts =
        new AtomicReferenceArray<>(tokenizer == null ? 0 : tokenizer.tokenizer().vocabSize());
    this.scheduler = scheduler;
    this.model = model;
    this.settings = settings;
    this.metrics = metrics;
    this.preparer =
        new PromptPreparer(
            tokenizer,
            model,
            new StopLimits(settings.maxStopStrings(), settings.maxStopLength()),
            settings.defaultMaxTokens());
    AtomicInteger threads = new AtomicInteger();
    this.prompts =
        new ThreadPoolExecutor(
            settings.promptThreads(),
            settings.promptThreads(),
            0,
            TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(settings.promptQueue()),
            r -> {
              Thread t = new Thread(r, "arrakis-prompt-" + threads.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Starts serving {@code decoder} (the model of {@code dir}) on {@code system}: the engine with
   * the cluster's routed experts, its KV cache, the scheduler on its own thread, the model's
   * tokenizer (when the directory has a tokenizer.json).
   */
  public static Serving start(
      ActorSystem<RouterGuardian.Command> system,
      DecoderModel decoder,
      Path dir,
      ServeSettings settings,
      MeterRegistry registry) {
    ClusterExperts experts =
        new ClusterExperts(
            system, system.scheduler(), decoder.config().hiddenSize(), settings.layerTimeout());
    Engine engine =
        Engine.create(
            decoder,
            experts,
            new EngineOptions(settings.kvCacheBytesOrDefault(), settings.blockSize()));
    ModelTokenizer tokenizer =
        Files.exists(dir.resolve("tokenizer.json")) ? ModelTokenizer.open(dir) : null;
    int blocks = engine.blocks().totalBlocks();
    int context =
        (int) Math.min(decoder.config().maxPositions(), (long) blocks * settings.blockSize());
    ServedModel model =
        new ServedModel(
            dir.getFileName().toString(),
            decoder.config().family().modelType(),
            context,
            decoder.config().vocabSize(),
            tokenizer != null);
    ServingMetrics metrics = new ServingMetrics(registry, blocks);
    ActorRef<Scheduler.Command> scheduler =
        system.systemActorOf(
            Scheduler.create(engine, settings, metrics),
            "serving-scheduler",
            DispatcherSelector.fromConfig(ENGINE_DISPATCHER));
    log.info(
        "serving {} ({}): KV cache {} MiB in {} blocks of {} tokens (prefix caching {}), context {} tokens, "
            + "{} micro-batches of up to {} tokens, {}",
        model.name(),
        model.family(),
        engine.cache().bytes() >> 20,
        blocks,
        settings.blockSize(),
        settings.prefixCaching() ? "on" : "off",
        context,
        settings.microBatches(),
        settings.maxStepTokens(),
        tokenizer == null
            ? "no tokenizer.json (token ids only)"
            : "tokenizer and chat template from " + dir);
    return new Serving(engine, tokenizer, scheduler, model, settings, metrics);
  }

  @Override
  public ServedModel model() {
    return model;
  }

  /** The scheduler, for tests and tools ({@link Scheduler.GetState}). */
  public ActorRef<Scheduler.Command> scheduler() {
    return scheduler;
  }

  public ServingMetrics metrics() {
    return metrics;
  }

  public ServeSettings settings() {
    return settings;
  }

  @Override
  public GenerationHandle submit(GenerationRequest request, GenerationListener listener) {
    if (!tryAccept()) {
      listener.onFailed(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "the router is at capacity: "
                  + accepted.get()
                  + " generation requests accepted, limit "
                  + settings.maxSequences()
                  + " (max-sequences); retry later"));
      return () -> {};
    }
    long arrival = request.receivedNanos();
    Once once = new Once(listener, accepted::decrementAndGet);
    Submission submission = new Submission(ids.incrementAndGet());
    once.cancelWith(submission::cancel);
    try {
      prompts.execute(() -> prepare(submission, request, once, arrival));
    } catch (RejectedExecutionException e) {
      once.onFailed(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "the router's prompt queue is full ("
                  + settings.promptQueue()
                  + " requests waiting to be tokenized); retry later"));
    }
    return submission::cancel;
  }

  private boolean tryAccept() {
    while (true) {
      int now = accepted.get();
      if (now >= settings.maxSequences()) {
        return false;
      }
      if (accepted.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  private void prepare(
      Submission submission, GenerationRequest request, GenerationListener listener, long arrival) {
    PreparedRequest p;
    try {
      p = preparer.prepare(request, arrival);
    } catch (GenerationRefused e) {
      listener.onFailed(e.status());
      return;
    } catch (RuntimeException e) {
      log.error("request {} could not be prepared", request.requestId(), e);
      listener.onFailed(
          Status.INTERNAL.withDescription("the router failed to prepare the prompt: " + e));
      return;
    }
    SequenceOutput out =
        new SequenceOutput(
            listener,
            tokenizer == null ? null : tokenizer.newDetokenizer(true),
            tokenizer == null ? 0 : tokenizer.tokenizer().vocabSize(),
            p.stops());
    if (!submission.submit(p, out)) {
      listener.onFinished(
          new int[0],
          "",
          List.of(),
          new GenerationListener.Finish(FinishReason.CANCELLED, p.prompt().length, 0, 0));
    }
  }

  /** A request on its way to the scheduler: a cancellation before it got there stops it there. */
  private final class Submission {
    private final long seq;
    private boolean submitted;
    private boolean cancelled;

    Submission(long seq) {
      this.seq = seq;
    }

    /** Hands the request to the scheduler unless it was cancelled; false if it was. */
    synchronized boolean submit(PreparedRequest p, SequenceOutput out) {
      if (cancelled) {
        return false;
      }
      submitted = true;
      scheduler.tell(
          new Scheduler.Submit(seq, p, out)); // under the lock: a Cancel can only follow it
      return true;
    }

    synchronized void cancel() {
      if (cancelled) {
        return;
      }
      cancelled = true;
      if (submitted) {
        scheduler.tell(new Scheduler.Cancel(seq));
      }
    }
  }

  /**
   * Passes calls on until the last one, then gives the request's place back; later calls are
   * dropped. A listener that throws (a broken client connection, a bug in a front end) ends its own
   * request: the exception is logged, the request cancelled and its place given back, and the
   * scheduler, whose thread made the call, serves every other sequence on.
   */
  private static final class Once implements GenerationListener {
    private final GenerationListener listener;
    private final Runnable release;
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile Runnable cancel = () -> {};

    Once(GenerationListener listener, Runnable release) {
      this.listener = listener;
      this.release = release;
    }

    void cancelWith(Runnable c) {
      cancel = c;
    }

    @Override
    public void onTokens(int[] tokenIds, String text, List<TokenLogprobs> logprobs) {
      if (!ended.get()) {
        guarded(() -> listener.onTokens(tokenIds, text, logprobs));
      }
    }

    @Override
    public void onFinished(
        int[] tokenIds, String text, List<TokenLogprobs> logprobs, Finish finish) {
      if (ended.compareAndSet(false, true)) {
        release.run();
        guarded(() -> listener.onFinished(tokenIds, text, logprobs, finish));
      }
    }

    @Override
    public void onPromptLogprobs(int[] promptIds, List<TokenLogprobs> logprobs) {
      if (!ended.get()) {
        guarded(() -> listener.onPromptLogprobs(promptIds, logprobs));
      }
    }

    @Override
    public void onFailed(Status status) {
      if (ended.compareAndSet(false, true)) {
        release.run();
        guarded(() -> listener.onFailed(status));
      }
    }

    private void guarded(Runnable call) {
      try {
        call.run();
      } catch (RuntimeException e) {
        log.error("a generation listener threw; its request is cancelled", e);
        if (ended.compareAndSet(false, true)) {
          release.run();
        }
        cancel.run();
      }
    }
  }

  @Override
  public String decode(int[] ids) {
    return tokenizer == null ? "" : tokenizer.tokenizer().decode(ids);
  }

  @Override
  public String tokenText(int id) {
    if (tokenizer == null || id < 0 || id >= tokenizer.tokenizer().vocabSize()) {
      return "token_id:" + id;
    }
    String text = tokenTexts.get(id);
    if (text == null) {
      text = tokenizer.tokenizer().decode(new int[] {id});
      tokenTexts.set(id, text); // two threads may both decode it: the same text
    }
    return text;
  }

  /**
   * Stops the prompt threads and frees the tokenizer and the engine; after the actors have stopped.
   */
  @Override
  public void close() throws IOException {
    prompts.shutdownNow();
    if (tokenizer != null) {
      tokenizer.close();
    }
    engine.close();
  }
}
