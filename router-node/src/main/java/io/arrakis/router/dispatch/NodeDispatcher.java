package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.NodeSlice;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One per expert node: merges the slices of concurrent requests into Compute calls. A slice that
 * arrives while fewer than {@code maxInFlight} calls are out is sent at once; otherwise slices
 * accumulate and go out together, up to {@code maxBatchTokens} per call (a single larger slice goes
 * alone), when a call returns. A failed call fails exactly the slices in it.
 *
 * <p>It also keeps its node's place in the rotation: a health check every {@code healthInterval}
 * takes the node out when it stops answering SERVING (dead, or draining before shutdown) and back
 * when it answers again; a call failing with UNAVAILABLE takes it out at once.
 */
public final class NodeDispatcher extends AbstractBehavior<NodeDispatcher.Command> {

  public sealed interface Command {}

  /** Compute {@code slice} by {@code deadlineNanos} (System.nanoTime) and tell {@code replyTo}. */
  public record Submit(NodeSlice slice, long deadlineNanos, ActorRef<SliceReply> replyTo) implements Command {}

  /** Finish what is queued and in flight, then stop (the node left the placement). */
  public record Drain() implements Command {}

  private record CallEnded(List<Submit> batch, long startNanos, ComputeResponse response, Throwable failure)
      implements Command {}

  private record CheckHealth() implements Command {}

  private record HealthChecked(boolean serving) implements Command {}

  /** The answer for one slice. */
  public sealed interface SliceReply {
    NodeSlice slice();
  }

  public record SliceDone(NodeSlice slice, ByteString partialSums) implements SliceReply {}

  public record SliceFailed(NodeSlice slice, Status status) implements SliceReply {}

  /**
   * Per-node batching limits and health checking.
   *
   * @param callTimeout longest a single Compute call may take (shorter when the client's deadline is
   *     nearer), so that a hung node leaves time to retry elsewhere
   */
  public record Limits(int maxInFlight, int maxBatchTokens, Duration callTimeout, Duration healthInterval,
      Duration healthTimeout) {
    public Limits {
      if (maxInFlight < 1 || maxBatchTokens < 1) {
        throw new IllegalArgumentException("max in-flight calls and max batch tokens must be positive");
      }
    }

    public Limits(int maxInFlight, int maxBatchTokens) {
      this(maxInFlight, maxBatchTokens, Duration.ofSeconds(10), Duration.ofMillis(500), Duration.ofSeconds(1));
    }
  }

  private final String nodeId;
  private final ExpertClient client;
  private final Limits limits;
  private final int hidden;
  private final ReplicaLoad load;
  private final RouterTelemetry telemetry;
  private final NodeHealth health;
  private final ArrayDeque<Submit> pending = new ArrayDeque<>();
  private int inFlight;
  private boolean checking;
  private long batchSeq;
  private boolean draining;

  /** Where a dispatcher reports: outstanding tokens, rotation, meters. */
  public record Shared(ReplicaLoad load, NodeHealth health, RouterTelemetry telemetry) {}

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
    telemetry.registerQueue(nodeId, pending::size);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Submit.class, this::onSubmit)
        .onMessage(CallEnded.class, this::onCallEnded)
        .onMessage(Drain.class, this::onDrain)
        .onMessage(CheckHealth.class, this::onCheckHealth)
        .onMessage(HealthChecked.class, this::onHealthChecked)
        .build();
  }

  private Behavior<Command> onSubmit(Submit s) {
    load.add(nodeId, s.slice().size());
    pending.add(s);
    sendWhatFits();
    return this;
  }

  private Behavior<Command> onCallEnded(CallEnded ended) {
    inFlight--;
    long nanos = System.nanoTime() - ended.startNanos();
    List<NodeSlice> slices = ended.batch().stream().map(Submit::slice).toList();
    List<ByteString> partials = null;
    Status failure = null;
    if (ended.failure() != null) {
      Status s = Status.fromThrowable(ended.failure());
      failure = s.withDescription("expert node " + nodeId + ": " + s.getDescription());
      if (s.getCode() == Status.Code.UNAVAILABLE && health.markDown(nodeId)) {
        getContext().getLog().warn("expert node {} out of rotation: {}", nodeId, s);
      }
    } else {
      try {
        partials = BatchAssembler.split(ended.response(), slices, hidden);
      } catch (IllegalStateException e) {
        failure = Status.INTERNAL.withDescription("expert node " + nodeId + " answered wrongly: " + e.getMessage());
      }
    }
    telemetry.callEnded(nodeId, slices.stream().mapToInt(NodeSlice::size).sum(), nanos,
        failure == null ? Status.Code.OK : failure.getCode());
    for (int i = 0; i < ended.batch().size(); i++) {
      Submit s = ended.batch().get(i);
      load.done(nodeId, s.slice().size());
      s.replyTo().tell(failure == null ? new SliceDone(s.slice(), partials.get(i)) : new SliceFailed(s.slice(), failure));
    }
    sendWhatFits();
    return stopIfDrained();
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
    if (m.serving() && health.markUp(nodeId)) {
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
    return draining && inFlight == 0 && pending.isEmpty() ? Behaviors.stopped() : this;
  }

  private void sendWhatFits() {
    while (inFlight < limits.maxInFlight() && !pending.isEmpty()) {
      List<Submit> batch = takeBatch();
      if (!batch.isEmpty()) {
        send(batch);
      }
    }
  }

  /** The oldest pending slices up to the token cap; slices already past their deadline are failed. */
  private List<Submit> takeBatch() {
    List<Submit> batch = new ArrayList<>();
    int tokens = 0;
    long now = System.nanoTime();
    while (!pending.isEmpty()) {
      Submit next = pending.peek();
      if (next.deadlineNanos() - now <= 0) {
        pending.poll();
        load.done(nodeId, next.slice().size());
        next.replyTo().tell(new SliceFailed(next.slice(), Status.DEADLINE_EXCEEDED.withDescription(
            "deadline passed while waiting for expert node " + nodeId)));
        continue;
      }
      if (!batch.isEmpty() && tokens + next.slice().size() > limits.maxBatchTokens()) {
        break;
      }
      batch.add(pending.poll());
      tokens += next.slice().size();
    }
    return batch;
  }

  private void send(List<Submit> batch) {
    inFlight++;
    long now = System.nanoTime();
    long deadline = Math.min(batch.stream().mapToLong(Submit::deadlineNanos).max().orElseThrow(),
        now + limits.callTimeout().toNanos());
    ComputeRequest request = BatchAssembler.assemble(nodeId + "-" + (++batchSeq), batch.stream().map(Submit::slice).toList(), hidden);
    telemetry.batchSent(nodeId, request.getHiddenStates().getShape(0),
        request.getAssignmentsList().stream().mapToLong(a -> a.getRowsCount()).sum());
    getContext().pipeToSelf(client.compute(request, Duration.ofNanos(deadline - now)),
        (response, failure) -> new CallEnded(batch, now, response, failure));
  }
}
