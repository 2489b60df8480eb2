package io.arrakis.router.serve;

import io.arrakis.engine.Engine;
import io.arrakis.engine.ForwardPass;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.StepResult;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.kv.BlockManager;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The serving scheduler: owns the {@link Engine} (its only driver: the engine is not thread-safe,
 * and this actor runs on a thread of its own, {@code arrakis.router.engine-dispatcher}) and runs
 * continuous batching over it. Each micro-batch lane has at most one step in flight; a step runs
 * layer by layer ({@link ForwardPass#advance}) on this actor's thread and hands each MoE layer's
 * routed experts off to the expert nodes (in one fan-out); the answer comes back as a message, so
 * while one lane's layer is on the expert nodes this actor computes another lane's attention,
 * admits requests, and handles cancellations. After a step, each sequence whose tokens are all in
 * the cache samples its next token and streams it. Every request is answered once: finished,
 * cancelled, expired or failed.
 */
public final class Scheduler extends AbstractBehavior<Scheduler.Command> {
  public sealed interface Command {}

  /** Runs a prepared request; its output goes to {@code output}'s listener. */
  record Submit(long seq, PreparedRequest request, SequenceOutput output) implements Command {}

  /**
   * The request's client gave up: its sequence and blocks go at once (or when its step in flight
   * ends).
   */
  public record Cancel(long seq) implements Command {}

  /** How the scheduler stands, for tests and tools. */
  public record GetState(ActorRef<State> replyTo) implements Command {}

  /**
   * The scheduler's sequences, KV-cache blocks and steps.
   *
   * @param stepsInFlight micro-batch steps started and not yet ended
   */
  public record State(
      int running,
      int waiting,
      int usedBlocks,
      int freeBlocks,
      int stepsInFlight,
      long preemptions) {}

  private record Expired(long seq) implements Command {}

  private record ExpertsAnswered(int lane, long step) implements Command {}

  /** Schedule again: a step ended without handing off (its experts answered at once). */
  private enum Kick implements Command {
    INSTANCE
  }

  /** One micro-batch lane: at most one step in flight. */
  private static final class Lane {
    final int index;
    ForwardPass pass;
    long step;
    List<Sequence> members;
    List<SequenceChunk> chunks;
    CompletableFuture<Void> waiting;

    Lane(int index) {
      this.index = index;
    }

    boolean busy() {
      return pass != null;
    }

    void clear() {
      pass = null;
      members = null;
      chunks = null;
      waiting = null;
    }
  }

  /**
   * The most logits one step returns for prompt log-probabilities (a vocabulary's worth of floats
   * per position): 64 MiB, 110 positions of a 151,936-token vocabulary.
   */
  private static final long PROMPT_LOGITS_BYTES = 64L << 20;

  private final Engine engine;
  private final BatchPlanner planner;
  private final ServingMetrics metrics;
  private final TimerScheduler<Command> timers;
  private final Map<Long, Sequence> sequences = new HashMap<>();
  private final Lane[] lanes;

  private final int vocab;
  private long arrivals;
  private long steps;
  private long preemptions;
  private boolean kicked;

  public static Behavior<Command> create(
      Engine engine, ServeSettings settings, ServingMetrics metrics) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(timers -> new Scheduler(ctx, timers, engine, settings, metrics)));
  }

  private Scheduler(
      ActorContext<Command> ctx,
      TimerScheduler<Command> timers,
      Engine engine,
      ServeSettings settings,
      ServingMetrics metrics) {
    super(ctx);
    this.engine = engine;
    this.timers = timers;
    this.metrics = metrics;
    this.vocab = engine.config().vocabSize();
    this.planner =
        new BatchPlanner(
            engine.blocks(),
            new BatchPlanner.Limits(
                settings.microBatches(),
                settings.maxStepTokens(),
                settings.maxRunning(),
                (int) Math.max(1, PROMPT_LOGITS_BYTES / (4L * vocab)),
                settings.prefixCaching()),
            engine::release,
            metrics::prefixCache);
    this.lanes = new Lane[settings.microBatches()];
    for (int i = 0; i < lanes.length; i++) {
      lanes[i] = new Lane(i);
    }
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Submit.class, this::onSubmit)
        .onMessage(Cancel.class, m -> ended(m.seq(), s -> finish(s, FinishReason.CANCELLED)))
        .onMessage(
            Expired.class,
            m ->
                ended(
                    m.seq(),
                    s ->
                        fail(
                            s,
                            Status.DEADLINE_EXCEEDED.withDescription(
                                "request "
                                    + s.request.requestId()
                                    + " passed its deadline after "
                                    + s.generated()
                                    + " tokens"))))
        .onMessage(ExpertsAnswered.class, this::onExpertsAnswered)
        .onMessage(GetState.class, this::onGetState)
        .onMessageEquals(
            Kick.INSTANCE,
            () -> {
              kicked = false;
              schedule();
              return this;
            })
        .onSignal(PostStop.class, s -> onStop())
        .build();
  }

  private Behavior<Command> onSubmit(Submit m) {
    Sequence s = new Sequence(m.seq(), arrivals++, m.request(), m.output());
    long left = m.request().deadlineNanos() - System.nanoTime();
    if (left <= 0) {
      m.output()
          .fail(
              Status.DEADLINE_EXCEEDED.withDescription(
                  "request "
                      + m.request().requestId()
                      + " passed its deadline before it was scheduled"));
      return this;
    }
    sequences.put(s.id, s);
    if (s.request.promptLogprobs() >= 0 && !s.scoresPrompt()) {
      s.output.promptLogprobs(s.request.prompt(), List.of()); // one token: nothing to score
    }
    planner.add(s);
    metrics.admitted(s.promptLength());
    timers.startSingleTimer(s.id, new Expired(s.id), Duration.ofNanos(left));
    schedule();
    return this;
  }

  /**
   * A request answered from outside the steps (cancelled, expired): it leaves now, or when its step
   * ends.
   */
  private Behavior<Command> ended(long seq, Consumer<Sequence> answer) {
    Sequence s = sequences.get(seq);
    if (s == null || s.ended) {
      return this;
    }
    answer.accept(s);
    if (!s.inFlight) {
      leave(s);
    } else if (lanes[s.lane].members.stream().allMatch(m -> m.ended)) {
      abort(lanes[s.lane]); // nobody waits for this step any more: stop it and free its blocks now
    }
    schedule();
    return this;
  }

  private Behavior<Command> onExpertsAnswered(ExpertsAnswered m) {
    Lane lane = lanes[m.lane()];
    if (lane.busy() && lane.step == m.step()) {
      advance(lane);
      schedule();
    }
    return this;
  }

  private Behavior<Command> onGetState(GetState m) {
    int inFlight = 0;
    for (Lane l : lanes) {
      inFlight += l.busy() ? 1 : 0;
    }
    BlockManager b = engine.blocks();
    m.replyTo()
        .tell(
            new State(
                planner.running(),
                planner.waiting(),
                b.usedBlocks(),
                b.freeBlocks(),
                inFlight,
                preemptions));
    return this;
  }

  /**
   * Starts a step on every idle lane that has work. A step that ran to its end at once (routed
   * experts that answer at once) leaves its lane idle: another round follows as a message, so that
   * requests and cancellations are heard between steps.
   */
  private void schedule() {
    boolean again = false;
    for (Lane lane : lanes) {
      if (!lane.busy() && start(lane) && !lane.busy()) {
        again = true;
      }
    }
    if (again && !kicked) {
      kicked = true;
      getContext().getSelf().tell(Kick.INSTANCE);
    }
    BlockManager b = engine.blocks();
    metrics.state(
        planner.running(),
        planner.waiting(),
        planner.preemptedWaiting(),
        b.usedBlocks(),
        b.freeBlocks());
  }

  /** Plans and starts the lane's next step; false when it has nothing to run. */
  private boolean start(Lane lane) {
    BatchPlanner.Plan plan = planner.plan(lane.index);
    for (Sequence p : plan.preempted()) {
      preemptions++;
      metrics.preempted();
      getContext()
          .getLog()
          .debug(
              "sequence {} preempted ({} blocks free); it will be recomputed",
              p.id,
              engine.blocks().freeBlocks());
    }
    if (plan.members().isEmpty()) {
      return false;
    }
    try {
      lane.pass = engine.begin(plan.chunks());
    } catch (
        RuntimeException
            e) { // a bug: the planner reserved what fits and ids were checked on the way in
      getContext().getLog().error("a step could not start", e);
      plan.members()
          .forEach(
              s -> failNow(s, Status.INTERNAL.withDescription("the step could not start: " + e)));
      return true;
    }
    lane.step = ++steps;
    lane.members = plan.members();
    lane.chunks = plan.chunks();
    plan.members().forEach(s -> s.inFlight = true);
    metrics.step(plan.tokens());
    advance(lane);
    return true;
  }

  /**
   * Runs the lane's step on this thread up to its next hand-off to the expert nodes, or to its end.
   */
  private void advance(Lane lane) {
    Optional<CompletionStage<Void>> wait;
    BusyTracker busy = metrics.busy();
    busy.router(true);
    try {
      wait = lane.pass.advance();
    } catch (RuntimeException e) {
      busy.router(false);
      failStep(lane, statusOf(e));
      return;
    }
    if (wait.isEmpty()) {
      complete(lane);
      busy.router(false);
      return;
    }
    busy.router(false);
    CompletableFuture<Void> f = wait.get().toCompletableFuture();
    lane.waiting = f;
    busy.expertsStarted();
    f.whenComplete((v, e) -> busy.expertsEnded());
    long step = lane.step;
    getContext().pipeToSelf(f, (v, e) -> new ExpertsAnswered(lane.index, step));
  }

  /**
   * The step's logits are in: every sequence whose tokens are all cached now picks its next token.
   */
  private void complete(Lane lane) {
    StepResult result = lane.pass.result();
    List<Sequence> members = lane.members;
    List<SequenceChunk> chunks = lane.chunks;
    lane.clear();
    long now = System.nanoTime();
    for (int i = 0; i < members.size(); i++) {
      Sequence s = members.get(i);
      SequenceChunk chunk = chunks.get(i);
      int start = s.computed;
      s.inFlight = false;
      s.computed += chunk.tokens().length;
      if (s.ended) {
        leave(s);
        continue;
      }
      float[] logits = result.logits(i);
      int last = 0; // where the last position's logits start: the next token's
      if (chunk.allLogits()) {
        if (s.scorePrompt(logits, start, chunk.tokens().length, vocab)) {
          s.output.promptLogprobs(s.request.prompt(), s.promptLogprobs);
        }
        last = (chunk.tokens().length - 1) * vocab;
      }
      if (s.computed == s.length()) {
        int token = s.sampler.next(logits, last, vocab);
        int top = s.params().logprobs();
        next(s, token, top < 0 ? null : TokenLogprobs.of(logits, last, vocab, token, top), now);
      }
    }
  }

  private void next(Sequence s, int token, TokenLogprobs logprobs, long now) {
    s.append(token);
    metrics.token(s, now);
    boolean mayStop = s.generated() > s.params().minTokens();
    Optional<FinishReason> text = s.output.accept(token, logprobs, mayStop);
    FinishReason reason =
        mayStop && s.params().stopsAt(token)
            ? FinishReason.STOP
            : text.orElse(s.generated() >= s.params().maxTokens() ? FinishReason.LENGTH : null);
    if (reason == null) {
      s.output.emit();
    } else {
      finish(s, reason);
      leave(s);
    }
  }

  private void finish(Sequence s, FinishReason reason) {
    s.ended = true;
    s.output.finish(reason, s.promptLength(), s.generated(), s.cachedPromptTokens);
    metrics.finished(s, reason);
    RequestLog.finished(s, reason);
  }

  private void fail(Sequence s, Status status) {
    s.ended = true;
    s.output.fail(status);
    metrics.failed();
    RequestLog.failed(s, status);
  }

  /** Fails a sequence that no step holds, and lets it go. */
  private void failNow(Sequence s, Status status) {
    fail(s, status);
    leave(s);
  }

  /**
   * The sequence goes: out of the planner, its blocks freed, its timer stopped. Never while a step
   * holds it.
   */
  private void leave(Sequence s) {
    planner.remove(s);
    engine.release(s.id);
    sequences.remove(s.id);
    timers.cancel(s.id);
  }

  /**
   * The step failed (its expert call, or the router's own code): its requests fail with the cause.
   */
  private void failStep(Lane lane, Status status) {
    List<Sequence> members = lane.members;
    lane.clear();
    for (Sequence s : members) {
      s.inFlight = false;
      if (!s.ended) {
        fail(s, status);
      }
      leave(s);
    }
  }

  /**
   * Every request of the step has ended: stop it (its expert call withdrawn) and free its sequences
   * now.
   */
  private void abort(Lane lane) {
    lane.pass.cancel();
    if (lane.waiting != null) {
      lane.waiting.cancel(false);
    }
    List<Sequence> members = lane.members;
    lane.clear();
    for (Sequence s : members) {
      s.inFlight = false;
      leave(s);
    }
  }

  private Behavior<Command> onStop() {
    for (Sequence s : List.copyOf(sequences.values())) {
      if (!s.ended) {
        fail(s, Status.UNAVAILABLE.withDescription("the router is stopping"));
      }
    }
    return this;
  }

  static Status statusOf(Throwable e) {
    Throwable t = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    if (t instanceof StatusRuntimeException s) {
      return s.getStatus();
    }
    return Status.INTERNAL.withDescription("the step failed in the router: " + t);
  }
}
