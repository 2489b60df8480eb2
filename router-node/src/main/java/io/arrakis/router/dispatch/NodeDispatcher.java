package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.NodeSlice;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One per expert node: merges the slices of concurrent requests into Compute calls. A slice that
 * arrives while fewer than {@code maxInFlight} calls are out is sent at once; otherwise slices wait
 * (at most {@code maxQueuedTokens} tokens of them, past which a slice is refused with
 * RESOURCE_EXHAUSTED) and go out together when a call returns. Every call fits what the node
 * accepts ({@link NodeCapacity}, learned from its {@code Describe} before the first call): rows and
 * bytes per call, rows as bf16 to a node computing in bf16; a slice larger than that goes in
 * several calls and is answered once, when all of them are. A failed call fails exactly the slices
 * in it.
 *
 * <p>A requester that no longer needs its slices ({@link Withdraw}: its client left, its deadline
 * passed, another slice failed) has them taken out of the queue, and a call carrying nothing else
 * is cancelled.
 *
 * <p>It also keeps its node's place in the rotation: a health check every {@code healthInterval}
 * takes the node out when it stops answering SERVING (dead, or draining before shutdown) and back
 * when it answers again; a call failing with UNAVAILABLE takes it out at once. A node whose
 * description does not fit the model (another hidden size, a message limit below one token) stays
 * out, and its slices fail at once, until it describes itself again as it should.
 */
public final class NodeDispatcher extends AbstractBehavior<NodeDispatcher.Command> {

  public sealed interface Command {}

  /** Compute {@code slice} by {@code deadlineNanos} (System.nanoTime) and tell {@code replyTo}. */
  public record Submit(NodeSlice slice, long deadlineNanos, ActorRef<SliceReply> replyTo)
      implements Command {}

  /**
   * {@code replyTo} needs none of its slices any more: drop them, and cancel calls carrying nothing
   * else.
   */
  public record Withdraw(ActorRef<SliceReply> replyTo) implements Command {}

  /** Finish what is queued and in flight, then stop (the node left the placement). */
  public record Drain() implements Command {}

  private record CallEnded(long call, ComputeResponse response, Throwable failure)
      implements Command {}

  private record CheckHealth() implements Command {}

  private record HealthChecked(boolean serving) implements Command {}

  private record Described(NodeDescription description, Throwable failure) implements Command {}

  /** The answer for one slice. */
  public sealed interface SliceReply {
    NodeSlice slice();
  }

  /**
   * A slice the node computed.
   *
   * @param partialSums FLOAT32 little-endian, one row per slice row
   */
  public record SliceDone(NodeSlice slice, ByteString partialSums) implements SliceReply {}

  public record SliceFailed(NodeSlice slice, Status status) implements SliceReply {}

  /**
   * Per-node batching limits and health checking.
   *
   * @param maxQueuedTokens tokens that may wait for a call at once (a single larger slice is let in
   *     when nothing waits)
   * @param callTimeout longest a single Compute call may take (shorter when the client's deadline
   *     is nearer), so that a hung node leaves time to retry elsewhere
   */
  public record Limits(
      int maxInFlight,
      int maxBatchTokens,
      int maxQueuedTokens,
      Duration callTimeout,
      Duration healthInterval,
      Duration healthTimeout) {
    public Limits {
      if (maxInFlight < 1 || maxBatchTokens < 1 || maxQueuedTokens < 1) {
        throw new IllegalArgumentException(
            "max in-flight calls, max batch tokens and max queued tokens must be positive");
      }
    }

    public Limits(int maxInFlight, int maxBatchTokens) {
      this(
          maxInFlight,
          maxBatchTokens,
          65536,
          Duration.ofSeconds(10),
          Duration.ofMillis(500),
          Duration.ofSeconds(1));
    }

    public Limits withHealthInterval(Duration d) {
      return new Limits(
          maxInFlight, maxBatchTokens, maxQueuedTokens, callTimeout, d, healthTimeout);
    }

    public Limits withMaxQueuedTokens(int n) {
      return new Limits(maxInFlight, maxBatchTokens, n, callTimeout, healthInterval, healthTimeout);
    }
  }

  /** Where a dispatcher reports: outstanding tokens, rotation, meters. */
  public record Shared(ReplicaLoad load, NodeHealth health, RouterTelemetry telemetry) {}

  private record Call(
      SliceQueue.Batch batch, CompletableFuture<ComputeResponse> answer, long startNanos) {}

  private final String nodeId;
  private final ExpertClient client;
  private final Limits limits;
  private final int hidden;
  private final ReplicaLoad load;
  private final RouterTelemetry telemetry;
  private final NodeHealth health;
  private final AutoCloseable queueGauge;
  private final SliceQueue queue;
  private final Map<Long, Call> calls = new LinkedHashMap<>();
  private volatile int waiting;
  private long callSeq;
  private boolean checking;
  private boolean draining;
  private NodeCapacity capacity;

  /** Why the node cannot serve this router, from its description; null when it can. */
  private String refusal;

  private boolean describeAgain;

  public static Behavior<Command> create(
      String nodeId, ExpertClient client, Limits limits, int hidden, Shared shared) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(
                timers -> {
                  timers.startTimerWithFixedDelay(new CheckHealth(), limits.healthInterval());
                  return new NodeDispatcher(ctx, nodeId, client, limits, hidden, shared);
                }));
  }

  private NodeDispatcher(
      ActorContext<Command> ctx,
      String nodeId,
      ExpertClient client,
      Limits limits,
      int hidden,
      Shared shared) {
    super(ctx);
    this.nodeId = nodeId;
    this.client = client;
    this.limits = limits;
    this.hidden = hidden;
    this.load = shared.load();
    this.health = shared.health();
    this.telemetry = shared.telemetry();
    this.queue = new SliceQueue(hidden);
    this.queueGauge = telemetry.registerQueue(nodeId, () -> waiting);
    describe();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Submit.class, this::onSubmit)
        .onMessage(Withdraw.class, this::onWithdraw)
        .onMessage(CallEnded.class, this::onCallEnded)
        .onMessage(Drain.class, this::onDrain)
        .onMessage(CheckHealth.class, this::onCheckHealth)
        .onMessage(HealthChecked.class, this::onHealthChecked)
        .onMessage(Described.class, this::onDescribed)
        .onSignal(PostStop.class, s -> unregister())
        .onSignal(PreRestart.class, s -> unregister())
        .build();
  }

  private Behavior<Command> onSubmit(Submit s) {
    NodeSlice slice = s.slice();
    if (refusal != null) {
      s.replyTo().tell(new SliceFailed(slice, Status.UNAVAILABLE.withDescription(refusal)));
      return this;
    }
    if (!queue.isEmpty() && queue.tokens() + slice.size() > limits.maxQueuedTokens()) {
      s.replyTo()
          .tell(
              new SliceFailed(
                  slice,
                  Status.RESOURCE_EXHAUSTED.withDescription(
                      "expert node "
                          + nodeId
                          + " has "
                          + queue.tokens()
                          + " tokens waiting at this router, its limit is "
                          + limits.maxQueuedTokens())));
      return this;
    }
    queue.add(s);
    load.add(nodeId, slice.size());
    sendWhatFits();
    return this;
  }

  private Behavior<Command> onWithdraw(Withdraw w) {
    List<SliceQueue.Job> jobs = queue.remove(w.replyTo());
    if (jobs.isEmpty()) {
      return this;
    }
    jobs.forEach(j -> load.done(nodeId, j.slice().size()));
    for (Call c : calls.values()) {
      if (c.batch().jobs().stream().allMatch(SliceQueue.Job::closed)) {
        c.answer().cancel(false); // the gRPC call is cancelled; its CallEnded fails no one
      }
    }
    sendWhatFits();
    return stopIfDrained();
  }

  private Behavior<Command> onCallEnded(CallEnded ended) {
    Call call = calls.remove(ended.call());
    long nanos = System.nanoTime() - call.startNanos();
    Throwable failure =
        ended.failure() instanceof CompletionException c && c.getCause() != null
            ? c.getCause()
            : ended.failure();
    List<ByteString> partials = null;
    Status failed = null;
    if (failure instanceof CancellationException) {
      failed =
          Status.CANCELLED.withDescription(
              "expert node " + nodeId + ": call cancelled, its requests left");
    } else if (failure != null) {
      Status s = Status.fromThrowable(failure);
      failed = s.withDescription("expert node " + nodeId + ": " + s.getDescription());
      if (s.getCode() == Status.Code.UNAVAILABLE && health.markDown(nodeId)) {
        getContext().getLog().warn("expert node {} out of rotation: {}", nodeId, s);
      }
    } else {
      try {
        partials = BatchAssembler.split(ended.response(), call.batch().parts(), hidden);
      } catch (IllegalStateException e) {
        failed =
            Status.INTERNAL.withDescription(
                "expert node " + nodeId + " answered wrongly: " + e.getMessage());
      }
    }
    List<SlicePart> parts = call.batch().parts();
    telemetry.callEnded(
        nodeId,
        parts.stream().mapToInt(SlicePart::size).sum(),
        nanos,
        failed == null ? Status.Code.OK : failed.getCode());
    for (int i = 0; i < parts.size(); i++) {
      SliceQueue.Job job = call.batch().jobs().get(i);
      if (job.closed()) {
        continue;
      }
      if (failed != null) {
        fail(job, failed);
        continue;
      }
      ByteString sums = job.answered(parts.get(i), partials.get(i), hidden);
      if (sums != null) {
        job.submit.replyTo().tell(new SliceDone(job.slice(), sums));
        finish(job);
      }
    }
    sendWhatFits();
    return stopIfDrained();
  }

  private void fail(SliceQueue.Job job, Status status) {
    job.submit.replyTo().tell(new SliceFailed(job.slice(), status));
    finish(job);
  }

  /** The job is answered: out of the queue, off the node's load. */
  private void finish(SliceQueue.Job job) {
    queue.close(job);
    load.done(nodeId, job.slice().size());
  }

  private void describe() {
    getContext().pipeToSelf(client.describe(limits.healthTimeout()), Described::new);
  }

  private Behavior<Command> onDescribed(Described m) {
    if (m.failure() != null) {
      if (capacity == null) {
        capacity = NodeCapacity.assumed(limits);
        getContext()
            .getLog()
            .warn(
                "expert node {} did not describe itself ({}); sending at most {} tokens per call until "
                    + "it does",
                nodeId,
                Status.fromThrowable(m.failure()),
                capacity.maxTokens());
      }
      describeAgain = true;
    } else {
      describeAgain = false;
      adopt(m.description());
    }
    sendWhatFits();
    return this;
  }

  /** Takes the node's description: its capacity, or a refusal when it cannot serve this model. */
  private void adopt(NodeDescription d) {
    try {
      NodeCapacity c = NodeCapacity.of(d, hidden, limits);
      if (refusal != null || !c.equals(capacity)) {
        int perCall =
            c.tokensPerCall((long) hidden * TensorCodec.elementSize(c.wireDtype(DType.FLOAT32)));
        if (perCall < limits.maxBatchTokens()) {
          getContext()
              .getLog()
              .warn(
                  "expert node {} takes at most {} tokens of hidden {} per call (its max_batch_tokens {}, "
                      + "max_request_bytes {}; this router's node-max-batch-tokens {}): larger batches go in several calls",
                  nodeId,
                  perCall,
                  hidden,
                  d.getMaxBatchTokens(),
                  d.getMaxRequestBytes(),
                  limits.maxBatchTokens());
        } else {
          getContext()
              .getLog()
              .info(
                  "expert node {}: up to {} tokens per call, computes in {}",
                  nodeId,
                  perCall,
                  c.computeDtype());
        }
      }
      if (refusal != null) {
        getContext()
            .getLog()
            .info("expert node {} now describes itself as this router needs", nodeId);
      }
      capacity = c;
      refusal = null;
    } catch (IllegalArgumentException e) {
      String why = "expert node " + nodeId + " cannot serve this router: " + e.getMessage();
      if (!why.equals(refusal)) {
        getContext()
            .getLog()
            .error("{}; it stays out of rotation until it describes itself otherwise", why);
      }
      refusal = why;
      capacity = capacity == null ? NodeCapacity.assumed(limits) : capacity;
      health.markDown(nodeId);
      for (SliceQueue.Job j : queue.waiting()) {
        fail(j, Status.UNAVAILABLE.withDescription(why));
      }
    }
  }

  private Behavior<Command> onCheckHealth(CheckHealth m) {
    if (!checking) {
      checking = true;
      getContext()
          .pipeToSelf(
              client.serving(limits.healthTimeout()),
              (serving, failure) -> new HealthChecked(failure == null && serving));
    }
    return this;
  }

  private Behavior<Command> onHealthChecked(HealthChecked m) {
    checking = false;
    if (m.serving() && (describeAgain || refusal != null)) {
      describe();
    }
    if (m.serving() && refusal == null && health.markUp(nodeId)) {
      getContext().getLog().info("expert node {} back in rotation", nodeId);
    } else if (!m.serving() && health.markDown(nodeId)) {
      getContext()
          .getLog()
          .warn("expert node {} out of rotation: health check not SERVING", nodeId);
    }
    return this;
  }

  private Behavior<Command> onDrain(Drain d) {
    draining = true;
    return stopIfDrained();
  }

  private Behavior<Command> stopIfDrained() {
    return draining && calls.isEmpty() && queue.isEmpty() ? Behaviors.stopped() : this;
  }

  private Behavior<Command> unregister() {
    try {
      queueGauge.close();
    } catch (Exception e) {
      getContext()
          .getLog()
          .warn("queue gauge of expert node {} not removed: {}", nodeId, e.toString());
    }
    return this;
  }

  private void sendWhatFits() {
    while (capacity != null && calls.size() < limits.maxInFlight() && !queue.isEmpty()) {
      SliceQueue.Batch batch = queue.take(capacity, System.nanoTime(), nodeId, this::fail);
      if (!batch.parts().isEmpty()) {
        send(batch);
      }
    }
    waiting = queue.slices();
  }

  private void send(SliceQueue.Batch batch) {
    long now = System.nanoTime();
    long deadline =
        Math.min(
            batch.jobs().stream().mapToLong(j -> j.submit.deadlineNanos()).max().orElseThrow(),
            now + limits.callTimeout().toNanos());
    long id = ++callSeq;
    ComputeRequest request =
        BatchAssembler.assemble(nodeId + "-" + id, batch.parts(), hidden, batch.dtype());
    telemetry.batchSent(
        nodeId,
        request.getHiddenStates().getShape(0),
        request.getAssignmentsList().stream().mapToLong(a -> a.getRowsCount()).sum());
    CompletableFuture<ComputeResponse> answer =
        client.compute(request, Duration.ofNanos(deadline - now));
    calls.put(id, new Call(batch, answer, now));
    getContext().pipeToSelf(answer, (response, failure) -> new CallEnded(id, response, failure));
  }
}
