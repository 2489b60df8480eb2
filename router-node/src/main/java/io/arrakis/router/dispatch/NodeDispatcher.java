package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
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
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
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
 * bytes per call, rows as bf16 to a node computing in bf16; a slice larger than that goes in several
 * calls and is answered once, when all of them are. A failed call fails exactly the slices in it.
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
  public record Submit(NodeSlice slice, long deadlineNanos, ActorRef<SliceReply> replyTo) implements Command {}

  /** {@code replyTo} needs none of its slices any more: drop them, and cancel calls carrying nothing else. */
  public record Withdraw(ActorRef<SliceReply> replyTo) implements Command {}

  /** Finish what is queued and in flight, then stop (the node left the placement). */
  public record Drain() implements Command {}

  private record CallEnded(long call, ComputeResponse response, Throwable failure) implements Command {}

  private record CheckHealth() implements Command {}

  private record HealthChecked(boolean serving) implements Command {}

  private record Described(NodeDescription description, Throwable failure) implements Command {}

  /** The answer for one slice. */
  public sealed interface SliceReply {
    NodeSlice slice();
  }

  /** @param partialSums FLOAT32 little-endian, one row per slice row */
  public record SliceDone(NodeSlice slice, ByteString partialSums) implements SliceReply {}

  public record SliceFailed(NodeSlice slice, Status status) implements SliceReply {}

  /**
   * Per-node batching limits and health checking.
   *
   * @param maxQueuedTokens tokens that may wait for a call at once (a single larger slice is let in
   *     when nothing waits)
   * @param callTimeout longest a single Compute call may take (shorter when the client's deadline is
   *     nearer), so that a hung node leaves time to retry elsewhere
   */
  public record Limits(int maxInFlight, int maxBatchTokens, int maxQueuedTokens, Duration callTimeout,
      Duration healthInterval, Duration healthTimeout) {
    public Limits {
      if (maxInFlight < 1 || maxBatchTokens < 1 || maxQueuedTokens < 1) {
        throw new IllegalArgumentException("max in-flight calls, max batch tokens and max queued tokens must be positive");
      }
    }

    public Limits(int maxInFlight, int maxBatchTokens) {
      this(maxInFlight, maxBatchTokens, 65536, Duration.ofSeconds(10), Duration.ofMillis(500), Duration.ofSeconds(1));
    }

    public Limits withHealthInterval(Duration d) {
      return new Limits(maxInFlight, maxBatchTokens, maxQueuedTokens, callTimeout, d, healthTimeout);
    }

    public Limits withMaxQueuedTokens(int n) {
      return new Limits(maxInFlight, maxBatchTokens, n, callTimeout, healthInterval, healthTimeout);
    }
  }

  /** Where a dispatcher reports: outstanding tokens, rotation, meters. */
  public record Shared(ReplicaLoad load, NodeHealth health, RouterTelemetry telemetry) {}

  /** A slice being served: taken from the queue row by row, answered once. */
  private static final class Job {
    final Submit submit;
    int taken;
    int partsOut;
    byte[] sums;
    ByteString whole;

    Job(Submit submit) {
      this.submit = submit;
    }

    NodeSlice slice() {
      return submit.slice();
    }

    int left() {
      return slice().size() - taken;
    }
  }

  private record Call(List<SlicePart> parts, List<Job> jobs, CompletableFuture<ComputeResponse> answer, long startNanos) {}

  private final String nodeId;
  private final ExpertClient client;
  private final Limits limits;
  private final int hidden;
  private final ReplicaLoad load;
  private final RouterTelemetry telemetry;
  private final NodeHealth health;
  private final AutoCloseable queueGauge;
  private final ArrayDeque<Job> pending = new ArrayDeque<>();
  private final Map<ActorRef<SliceReply>, List<Job>> byRequester = new HashMap<>();
  private final Map<Long, Call> calls = new LinkedHashMap<>();
  private int queuedTokens;
  private volatile int waiting;
  private long callSeq;
  private boolean checking;
  private boolean draining;
  private NodeCapacity capacity;
  /** Why the node cannot serve this router, from its description; null when it can. */
  private String refusal;
  private boolean describeAgain;

  public static Behavior<Command> create(String nodeId, ExpertClient client, Limits limits, int hidden, Shared shared) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(new CheckHealth(), limits.healthInterval());
      return new NodeDispatcher(ctx, nodeId, client, limits, hidden, shared);
    }));
  }

  private NodeDispatcher(ActorContext<Command> ctx, String nodeId, ExpertClient client, Limits limits, int hidden,
      Shared shared) {
    super(ctx);
    this.nodeId = nodeId;
    this.client = client;
    this.limits = limits;
    this.hidden = hidden;
    this.load = shared.load();
    this.health = shared.health();
    this.telemetry = shared.telemetry();
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
    if (!pending.isEmpty() && queuedTokens + slice.size() > limits.maxQueuedTokens()) {
      s.replyTo().tell(new SliceFailed(slice, Status.RESOURCE_EXHAUSTED.withDescription("expert node " + nodeId
          + " has " + queuedTokens + " tokens waiting at this router, its limit is " + limits.maxQueuedTokens())));
      return this;
    }
    Job job = new Job(s);
    load.add(nodeId, slice.size());
    byRequester.computeIfAbsent(s.replyTo(), r -> new ArrayList<>(2)).add(job);
    pending.add(job);
    queuedTokens += slice.size();
    sendWhatFits();
    return this;
  }

  private Behavior<Command> onWithdraw(Withdraw w) {
    List<Job> jobs = byRequester.remove(w.replyTo());
    if (jobs == null) {
      return this;
    }
    for (Job j : jobs) {
      end(j);
    }
    for (Call c : calls.values()) {
      if (c.jobs().stream().allMatch(j -> !isOpen(j))) {
        c.answer().cancel(false); // the gRPC call is cancelled; its CallEnded fails no one
      }
    }
    sendWhatFits();
    return stopIfDrained();
  }

  private Behavior<Command> onCallEnded(CallEnded ended) {
    Call call = calls.remove(ended.call());
    long nanos = System.nanoTime() - call.startNanos();
    Throwable failure = ended.failure() instanceof CompletionException c && c.getCause() != null ? c.getCause()
        : ended.failure();
    List<ByteString> partials = null;
    Status failed = null;
    if (failure instanceof CancellationException) {
      failed = Status.CANCELLED.withDescription("expert node " + nodeId + ": call cancelled, its requests left");
    } else if (failure != null) {
      Status s = Status.fromThrowable(failure);
      failed = s.withDescription("expert node " + nodeId + ": " + s.getDescription());
      if (s.getCode() == Status.Code.UNAVAILABLE && health.markDown(nodeId)) {
        getContext().getLog().warn("expert node {} out of rotation: {}", nodeId, s);
      }
    } else {
      try {
        partials = BatchAssembler.split(ended.response(), call.parts(), hidden);
      } catch (IllegalStateException e) {
        failed = Status.INTERNAL.withDescription("expert node " + nodeId + " answered wrongly: " + e.getMessage());
      }
    }
    telemetry.callEnded(nodeId, call.parts().stream().mapToInt(SlicePart::size).sum(), nanos,
        failed == null ? Status.Code.OK : failed.getCode());
    for (int i = 0; i < call.parts().size(); i++) {
      SlicePart part = call.parts().get(i);
      Job job = call.jobs().get(i);
      if (!isOpen(job)) {
        continue;
      }
      if (failed != null) {
        fail(job, failed);
      } else {
        accept(job, part, partials.get(i));
      }
    }
    sendWhatFits();
    return stopIfDrained();
  }

  private void accept(Job job, SlicePart part, ByteString partial) {
    job.partsOut--;
    if (part.whole()) {
      job.whole = partial;
    } else {
      if (job.sums == null) {
        job.sums = new byte[job.slice().size() * hidden * Float.BYTES];
      }
      partial.copyTo(job.sums, part.from() * hidden * Float.BYTES);
    }
    if (job.left() == 0 && job.partsOut == 0) {
      job.submit.replyTo().tell(new SliceDone(job.slice(),
          job.whole != null ? job.whole : UnsafeByteOperations.unsafeWrap(job.sums)));
      end(job);
    }
  }

  private void fail(Job job, Status status) {
    job.submit.replyTo().tell(new SliceFailed(job.slice(), status));
    end(job);
  }

  /** The job leaves: out of the queue, off the node's load, no longer the requester's. */
  private void end(Job job) {
    if (!isOpen(job)) {
      return;
    }
    if (job.left() > 0 && pending.remove(job)) {
      queuedTokens -= job.left();
    }
    job.taken = job.slice().size();
    job.partsOut = -1; // closed
    load.done(nodeId, job.slice().size());
    List<Job> mine = byRequester.get(job.submit.replyTo());
    if (mine != null && mine.remove(job) && mine.isEmpty()) {
      byRequester.remove(job.submit.replyTo());
    }
    waiting = pending.size();
  }

  private static boolean isOpen(Job job) {
    return job.partsOut >= 0;
  }

  private void describe() {
    getContext().pipeToSelf(client.describe(limits.healthTimeout()), Described::new);
  }

  private Behavior<Command> onDescribed(Described m) {
    if (m.failure() != null) {
      if (capacity == null) {
        capacity = NodeCapacity.assumed(limits);
        getContext().getLog().warn("expert node {} did not describe itself ({}); sending at most {} tokens per call until "
            + "it does", nodeId, Status.fromThrowable(m.failure()), capacity.maxTokens());
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
        int perCall = c.tokensPerCall((long) hidden * TensorCodec.elementSize(c.wireDtype(DType.FLOAT32)));
        if (perCall < limits.maxBatchTokens()) {
          getContext().getLog().warn("expert node {} takes at most {} tokens of hidden {} per call (its max_batch_tokens {}, "
                  + "max_request_bytes {}; this router's node-max-batch-tokens {}): larger batches go in several calls",
              nodeId, perCall, hidden, d.getMaxBatchTokens(), d.getMaxRequestBytes(), limits.maxBatchTokens());
        } else {
          getContext().getLog().info("expert node {}: up to {} tokens per call, computes in {}", nodeId, perCall,
              c.computeDtype());
        }
      }
      if (refusal != null) {
        getContext().getLog().info("expert node {} now describes itself as this router needs", nodeId);
      }
      capacity = c;
      refusal = null;
    } catch (IllegalArgumentException e) {
      String why = "expert node " + nodeId + " cannot serve this router: " + e.getMessage();
      if (!why.equals(refusal)) {
        getContext().getLog().error("{}; it stays out of rotation until it describes itself otherwise", why);
      }
      refusal = why;
      capacity = capacity == null ? NodeCapacity.assumed(limits) : capacity;
      health.markDown(nodeId);
      for (Job j : new ArrayList<>(pending)) {
        fail(j, Status.UNAVAILABLE.withDescription(why));
      }
    }
  }

  private Behavior<Command> onCheckHealth(CheckHealth m) {
    if (!checking) {
      checking = true;
      getContext().pipeToSelf(client.serving(limits.healthTimeout()),
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
      getContext().getLog().warn("expert node {} out of rotation: health check not SERVING", nodeId);
    }
    return this;
  }

  private Behavior<Command> onDrain(Drain d) {
    draining = true;
    return stopIfDrained();
  }

  private Behavior<Command> stopIfDrained() {
    return draining && calls.isEmpty() && pending.isEmpty() ? Behaviors.stopped() : this;
  }

  private Behavior<Command> unregister() {
    try {
      queueGauge.close();
    } catch (Exception e) {
      getContext().getLog().warn("queue gauge of expert node {} not removed: {}", nodeId, e.toString());
    }
    return this;
  }

  private void sendWhatFits() {
    while (capacity != null && calls.size() < limits.maxInFlight() && !pending.isEmpty()) {
      List<SlicePart> parts = new ArrayList<>();
      List<Job> jobs = new ArrayList<>();
      DType dtype = takeBatch(parts, jobs);
      if (!parts.isEmpty()) {
        send(parts, jobs, dtype);
      }
    }
    waiting = pending.size();
  }

  /**
   * The oldest waiting slices that fit one call: as many rows and bytes as the node takes, of one
   * wire dtype. Slices already past their deadline are failed; a slice too large for any one call
   * goes in parts, one call after another.
   *
   * @return the call's dtype
   */
  private DType takeBatch(List<SlicePart> parts, List<Job> jobs) {
    int tokens = 0;
    long bytes = NodeCapacity.CALL_BYTES;
    DType dtype = null;
    long now = System.nanoTime();
    while (!pending.isEmpty()) {
      Job job = pending.peek();
      if (job.submit.deadlineNanos() - now <= 0) {
        fail(job, Status.DEADLINE_EXCEEDED.withDescription("deadline passed while waiting for expert node " + nodeId));
        continue;
      }
      DType wire = capacity.wireDtype(job.slice().dtype());
      if (dtype != null && wire != dtype) {
        break;
      }
      long rowBytes = (long) hidden * TensorCodec.elementSize(wire);
      int[] pairs = pairsPerRow(job.slice());
      int from = job.taken;
      int to = from;
      long partBytes = (long) job.slice().experts().size() * NodeCapacity.ASSIGNMENT_BYTES;
      while (to < job.slice().size() && tokens + (to - from) < capacity.maxTokens()) {
        long next = rowBytes + (long) pairs[to] * NodeCapacity.PAIR_BYTES;
        if (bytes + partBytes + next > capacity.maxBytes()) {
          break;
        }
        partBytes += next;
        to++;
      }
      if (to == from && parts.isEmpty()) { // not even one row fits an empty call
        fail(job, Status.UNAVAILABLE.withDescription("expert node " + nodeId + " accepts " + capacity.maxBytes()
            + " bytes per call, less than one token of this request needs"));
        continue;
      }
      if (to < job.slice().size() && !parts.isEmpty()) {
        break; // a slice is split only when it does not fit a call of its own: this one waits for the next
      }
      dtype = wire;
      parts.add(new SlicePart(job.slice(), from, to));
      jobs.add(job);
      job.taken = to;
      job.partsOut++;
      queuedTokens -= to - from;
      tokens += to - from;
      bytes += partBytes;
      if (job.left() > 0) {
        break; // the call is full
      }
      pending.poll();
    }
    return dtype;
  }

  private static int[] pairsPerRow(NodeSlice slice) {
    int[] pairs = new int[slice.size()];
    for (NodeSlice.ExpertRows e : slice.experts()) {
      for (int r : e.rows()) {
        pairs[r]++;
      }
    }
    return pairs;
  }

  private void send(List<SlicePart> parts, List<Job> jobs, DType dtype) {
    long now = System.nanoTime();
    long deadline = Math.min(jobs.stream().mapToLong(j -> j.submit.deadlineNanos()).max().orElseThrow(),
        now + limits.callTimeout().toNanos());
    long id = ++callSeq;
    ComputeRequest request = BatchAssembler.assemble(nodeId + "-" + id, parts, hidden, dtype);
    telemetry.batchSent(nodeId, request.getHiddenStates().getShape(0),
        request.getAssignmentsList().stream().mapToLong(a -> a.getRowsCount()).sum());
    CompletableFuture<ComputeResponse> answer = client.compute(request, Duration.ofNanos(deadline - now));
    calls.put(id, new Call(parts, jobs, answer, now));
    getContext().pipeToSelf(answer, (response, failure) -> new CallEnded(id, response, failure));
  }
}
