package io.arrakis.router.request;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.router.plan.NoReplicaException;
import io.arrakis.router.plan.NodeSlice;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One per {@link LayerJob}: checks the values and gates (unless the caller gated), plans one slice
 * per node, hands the slices to the node dispatchers, computes a Forward call's shared expert
 * meanwhile, adds the partial sums in node-id order and replies exactly once — with the output,
 * with the first failure, with DEADLINE_EXCEEDED when the caller's deadline passes, with CANCELLED
 * when the caller gives up, or with INTERNAL should its own code fail. On any early answer it
 * withdraws its slices from the dispatchers, so that nothing of it stays queued or computing.
 *
 * <p>A slice that fails because its node or call broke (UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN,
 * INTERNAL, CANCELLED, ABORTED, DATA_LOSS) or because its node is at capacity (RESOURCE_EXHAUSTED)
 * is retried once on other replicas of its experts, within the caller's deadline; one refused for
 * its content (INVALID_ARGUMENT, …) is not.
 */
final class RequestCoordinator {
  /**
   * Slice failures worth one more try on another replica: the node or the call broke, not the
   * request (a node killed mid-call may cut the stream as UNKNOWN or INTERNAL rather than
   * UNAVAILABLE), or the node is busy. Expert compute is a pure function, so a second try cannot do
   * harm.
   */
  private static final Set<Status.Code> RETRYABLE =
      EnumSet.of(
          Status.Code.UNAVAILABLE,
          Status.Code.DEADLINE_EXCEEDED,
          Status.Code.UNKNOWN,
          Status.Code.INTERNAL,
          Status.Code.CANCELLED,
          Status.Code.ABORTED,
          Status.Code.DATA_LOSS,
          Status.Code.RESOURCE_EXHAUSTED);

  public sealed interface Command {}

  private record Reply(NodeDispatcher.SliceReply reply) implements Command {}

  private record DeadlinePassed() implements Command {}

  private record Cancelled() implements Command {}

  private final LayerJob job;
  private final RoutingTable table;
  private final RouterTelemetry telemetry;
  private final SharedExperts shared;
  private final ActorRef<LayerOutcome> replyTo;
  private final ActorContext<Command> ctx;

  /** Answers by (node id, arrival): the order in which partial sums are added. */
  private final Map<String, NodeDispatcher.SliceDone> done = new TreeMap<>();

  /** Slices each dispatcher has not answered yet. */
  private final Map<ActorRef<NodeDispatcher.Command>, Integer> unanswered = new HashMap<>();

  private Routing routing;
  private ByteString rows;

  /**
   * The shared expert's output, added to the routed experts' (Forward calls of layers with one).
   */
  private float[] sharedOutput;

  private ActorRef<NodeDispatcher.SliceReply> adapter;
  private int outstanding;
  private boolean replied;

  private RequestCoordinator(
      LayerJob job,
      RoutingTable table,
      RouterTelemetry telemetry,
      SharedExperts shared,
      ActorRef<LayerOutcome> replyTo,
      ActorContext<Command> ctx) {
    this.job = job;
    this.table = table;
    this.telemetry = telemetry;
    this.shared = shared;
    this.replyTo = replyTo;
    this.ctx = ctx;
  }

  /**
   * A coordinator for one layer job, answering {@code replyTo} once.
   *
   * @param shared the shared experts added to a Forward call's answer
   */
  public static Behavior<Command> create(
      LayerJob job,
      RoutingTable table,
      RouterTelemetry telemetry,
      SharedExperts shared,
      ActorRef<LayerOutcome> replyTo) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(
                timers -> {
                  RequestCoordinator c =
                      new RequestCoordinator(job, table, telemetry, shared, replyTo, ctx);
                  try {
                    return c.start(timers);
                  } catch (RuntimeException e) {
                    return c.broke(e);
                  }
                }));
  }

  private Behavior<Command> start(TimerScheduler<Command> timers) {
    long left = job.deadlineNanos() - System.nanoTime();
    if (left <= 0) { // waited past its deadline before it started: not worth decoding or gating
      return fail(
          Status.DEADLINE_EXCEEDED.withDescription("deadline passed before the request started"));
    }
    if (job.cancellation().isCancelled()) {
      return fail(
          Status.CANCELLED.withDescription("the caller cancelled the request before it started"));
    }
    ActorRef<Command> self = ctx.getSelf();
    job.cancellation().onCancel(() -> self.tell(new Cancelled()));
    Tensor hidden = job.hiddenStates();
    DType dtype;
    float[] x = null;
    if (job.gatedHere()) {
      INDArray decoded = TensorCodec.decodeFloat(hidden);
      try {
        TensorChecks.checkFinite("hidden_states", decoded);
      } catch (TensorCheckException e) {
        return fail(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
      }
      routing = table.gates().get(job.layer()).route(decoded);
      // bf16 rows stay bf16 where the model is bf16 too; otherwise the nodes get float32 (exact for
      // bf16 input)
      dtype =
          hidden.getDtype() == DType.BFLOAT16 && table.bf16Weights()
              ? DType.BFLOAT16
              : DType.FLOAT32;
      rows =
          hidden.getDtype() == dtype
              ? hidden.getData()
              : UnsafeByteOperations.unsafeWrap(NdArrays.toBytes(decoded));
      x = shared.has(job.layer()) ? TensorCodec.widenedFloats(hidden) : null;
    } else { // the caller gated its own float32 rows
      routing = job.routing();
      dtype = DType.FLOAT32;
      rows = hidden.getData();
    }
    telemetry.routed(tokensPerExpert(job.layer(), routing));
    adapter = ctx.messageAdapter(NodeDispatcher.SliceReply.class, Reply::new);
    try {
      submit(table.planner().plan(job.layer(), routing, rows, dtype, table.hidden()));
    } catch (NoReplicaException e) {
      return fail(Status.UNAVAILABLE.withDescription(e.getMessage()));
    }
    if (x != null) { // while the expert nodes compute
      sharedOutput = shared.compute(job.layer(), x, job.tokens());
    }
    timers.startSingleTimer(new DeadlinePassed(), Duration.ofNanos(left));
    return Behaviors.receive(Command.class)
        .onMessage(Reply.class, m -> guarded(() -> onReply(m)))
        .onMessage(
            DeadlinePassed.class,
            m ->
                fail(
                    Status.DEADLINE_EXCEEDED.withDescription(
                        "deadline passed with "
                            + outstanding
                            + " expert node calls still to answer")))
        .onMessage(
            Cancelled.class,
            m -> fail(Status.CANCELLED.withDescription("the caller cancelled the request")))
        .onSignal(PostStop.class, s -> stopped())
        .build();
  }

  private interface Step {
    Behavior<Command> run();
  }

  /** Runs a step; an exception in it answers the caller (once) instead of leaving it waiting. */
  private Behavior<Command> guarded(Step step) {
    try {
      return step.run();
    } catch (RuntimeException e) {
      return broke(e);
    }
  }

  private Behavior<Command> broke(RuntimeException e) {
    ctx.getLog().error("request {} failed in the router", job.requestId(), e);
    return fail(
        Status.INTERNAL.withDescription("router failed on request " + job.requestId() + ": " + e));
  }

  private void submit(List<NodeSlice> slices) {
    for (NodeSlice s : slices) {
      ActorRef<NodeDispatcher.Command> d = table.dispatchers().get(s.nodeId());
      d.tell(new NodeDispatcher.Submit(s, job.deadlineNanos(), adapter));
      unanswered.merge(d, 1, Integer::sum);
    }
    outstanding += slices.size();
  }

  private Behavior<Command> onReply(Reply m) {
    outstanding--;
    unanswered.computeIfPresent(
        table.dispatchers().get(m.reply().slice().nodeId()), (d, n) -> n > 1 ? n - 1 : null);
    if (m.reply() instanceof NodeDispatcher.SliceFailed f) {
      return retryable(f) ? retry(f) : fail(f.status());
    }
    NodeDispatcher.SliceDone d = (NodeDispatcher.SliceDone) m.reply();
    done.put(d.slice().nodeId() + "#" + done.size(), d);
    return outstanding > 0 ? Behaviors.same() : succeed();
  }

  private static boolean retryable(NodeDispatcher.SliceFailed f) {
    return f.slice().attempt() == 0 && RETRYABLE.contains(f.status().getCode());
  }

  private Behavior<Command> retry(NodeDispatcher.SliceFailed f) {
    try {
      submit(table.planner().replan(f.slice(), f.slice().nodeId(), rows, table.hidden()));
    } catch (NoReplicaException e) {
      // a busy node is overload, not an outage: say so (429 to a client), as for the router's own
      // admission
      Status.Code code =
          f.status().getCode() == Status.Code.RESOURCE_EXHAUSTED
              ? Status.Code.RESOURCE_EXHAUSTED
              : Status.Code.UNAVAILABLE;
      return fail(
          Status.fromCode(code)
              .withDescription(e.getMessage() + " (" + f.status().getDescription() + ")"));
    }
    return Behaviors.same();
  }

  private Behavior<Command> succeed() {
    int d = table.hidden();
    float[] out = sharedOutput != null ? sharedOutput : new float[job.tokens() * d];
    for (NodeDispatcher.SliceDone s : done.values()) { // node-id order: a fixed order of addition
      FloatBuffer partial =
          s.partialSums().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
      int[] tokens = s.slice().tokens();
      for (int i = 0; i < tokens.length; i++) {
        int at = tokens[i] * d;
        for (int j = 0; j < d; j++) {
          out[at + j] += partial.get(i * d + j);
        }
      }
    }
    return reply(new LayerOutcome.Succeeded(out, routing), Status.Code.OK);
  }

  private Behavior<Command> fail(Status status) {
    return reply(new LayerOutcome.Failed(status), status.getCode());
  }

  /**
   * The one answer: slices still out are withdrawn, so nothing of this request stays queued or
   * computing.
   */
  private Behavior<Command> reply(LayerOutcome outcome, Status.Code code) {
    if (!replied) {
      replied = true;
      unanswered.keySet().forEach(d -> d.tell(new NodeDispatcher.Withdraw(adapter)));
      unanswered.clear();
      replyTo.tell(outcome);
      if (job.gatedHere()) { // a Forward call; the serving engine's layers are measured as steps
        telemetry.requestEnded(job.tokens(), System.nanoTime() - job.startNanos(), code);
      }
    }
    return Behaviors.stopped();
  }

  /**
   * Stopped without having answered (the router is stopping): the caller still gets its one answer.
   */
  private Behavior<Command> stopped() {
    if (!replied) {
      fail(
          Status.UNAVAILABLE.withDescription(
              "the router stopped before request " + job.requestId() + " was answered"));
    }
    return Behaviors.same();
  }

  private static Map<ExpertId, Long> tokensPerExpert(int layer, Routing routing) {
    Map<ExpertId, Long> out = new HashMap<>();
    for (int id : routing.ids()) {
      out.merge(new ExpertId(layer, id), 1L, Long::sum);
    }
    return out;
  }
}
