package io.arrakis.router.request;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
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
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One per Forward call: checks the values, gates, plans one slice per node, hands the slices to the
 * node dispatchers, adds the partial sums in node-id order and replies exactly once — with the
 * output, with the first failure, or with DEADLINE_EXCEEDED when the client's deadline passes.
 * A slice that fails because its node or call broke (UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN,
 * INTERNAL, CANCELLED, ABORTED, DATA_LOSS) is retried once on other replicas of its experts, within
 * the client's deadline; one refused for its content (INVALID_ARGUMENT, …) is not.
 */
public final class RequestCoordinator {
  /**
   * Slice failures worth one more try on another replica: the node or the call broke, not the
   * request (a node killed mid-call may cut the stream as UNKNOWN or INTERNAL rather than
   * UNAVAILABLE). Expert compute is a pure function, so a second try cannot do harm.
   */
  private static final Set<Status.Code> RETRYABLE = EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED,
      Status.Code.UNKNOWN, Status.Code.INTERNAL, Status.Code.CANCELLED, Status.Code.ABORTED, Status.Code.DATA_LOSS);

  public sealed interface Command {}

  private record Reply(NodeDispatcher.SliceReply reply) implements Command {}

  private record DeadlinePassed() implements Command {}

  private final ForwardJob job;
  private final RoutingTable table;
  private final RouterTelemetry telemetry;
  private final ActorRef<ForwardOutcome> replyTo;
  /** Answers by (node id, arrival): the order in which partial sums are added. */
  private final Map<String, NodeDispatcher.SliceDone> done = new TreeMap<>();
  private Routing routing;
  private ByteString rows;
  private ActorRef<NodeDispatcher.SliceReply> adapter;
  private int outstanding;

  private RequestCoordinator(ForwardJob job, RoutingTable table, RouterTelemetry telemetry, ActorRef<ForwardOutcome> replyTo) {
    this.job = job;
    this.table = table;
    this.telemetry = telemetry;
    this.replyTo = replyTo;
  }

  public static Behavior<Command> create(ForwardJob job, RoutingTable table, RouterTelemetry telemetry,
      ActorRef<ForwardOutcome> replyTo) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new RequestCoordinator(job, table, telemetry, replyTo).start(ctx, timers)));
  }

  private Behavior<Command> start(ActorContext<Command> ctx, TimerScheduler<Command> timers) {
    table.active().incrementAndGet();
    ForwardRequest req = job.request();
    int layer = req.getLayer();
    INDArray x = TensorCodec.decodeFloat(req.getHiddenStates());
    try {
      TensorChecks.checkFinite("hidden_states", x);
    } catch (TensorCheckException e) {
      return fail(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
    }
    routing = table.gates().get(layer).route(x);
    telemetry.routed(tokensPerExpert(layer, routing));
    rows = req.getHiddenStates().getDtype() == DType.FLOAT32
        ? req.getHiddenStates().getData()
        : UnsafeByteOperations.unsafeWrap(io.arrakis.model.tensor.NdArrays.toBytes(x));
    adapter = ctx.messageAdapter(NodeDispatcher.SliceReply.class, Reply::new);
    try {
      submit(table.planner().plan(layer, routing, rows, table.hidden()));
    } catch (NoReplicaException e) {
      return fail(Status.UNAVAILABLE.withDescription(e.getMessage()));
    }
    timers.startSingleTimer(new DeadlinePassed(), Duration.ofNanos(Math.max(0, job.deadlineNanos() - System.nanoTime())));
    return Behaviors.receive(Command.class)
        .onMessage(Reply.class, this::onReply)
        .onMessage(DeadlinePassed.class, m -> fail(Status.DEADLINE_EXCEEDED.withDescription(
            "deadline passed with " + outstanding + " expert node calls still to answer")))
        .build();
  }

  private void submit(List<NodeSlice> slices) {
    for (NodeSlice s : slices) {
      table.dispatchers().get(s.nodeId()).tell(new NodeDispatcher.Submit(s, job.deadlineNanos(), adapter));
    }
    outstanding += slices.size();
  }

  private Behavior<Command> onReply(Reply m) {
    outstanding--;
    if (m.reply() instanceof NodeDispatcher.SliceFailed f) {
      return retryable(f) ? retry(f) : fail(f.status());
    }
    NodeDispatcher.SliceDone d = (NodeDispatcher.SliceDone) m.reply();
    done.put(d.slice().nodeId() + "#" + done.size(), d);
    return outstanding > 0 ? Behaviors.same() : succeed();
  }

  private boolean retryable(NodeDispatcher.SliceFailed f) {
    return f.slice().attempt() == 0 && RETRYABLE.contains(f.status().getCode())
        && job.deadlineNanos() - System.nanoTime() > 0;
  }

  private Behavior<Command> retry(NodeDispatcher.SliceFailed f) {
    try {
      submit(table.planner().replan(f.slice(), f.slice().nodeId(), rows, table.hidden()));
    } catch (NoReplicaException e) {
      return fail(Status.UNAVAILABLE.withDescription(e.getMessage() + " (" + f.status().getDescription() + ")"));
    }
    return Behaviors.same();
  }

  private Behavior<Command> succeed() {
    int d = table.hidden();
    float[] out = new float[job.tokens() * d];
    for (NodeDispatcher.SliceDone s : done.values()) { // node-id order: a fixed order of addition
      FloatBuffer partial = s.partialSums().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
      int[] tokens = s.slice().tokens();
      for (int i = 0; i < tokens.length; i++) {
        int at = tokens[i] * d;
        for (int j = 0; j < d; j++) {
          out[at + j] += partial.get(i * d + j);
        }
      }
    }
    ForwardResponse.Builder resp = ForwardResponse.newBuilder()
        .setRequestId(job.request().getRequestId())
        .setOutput(TensorCodec.encodeFloat(out, job.tokens(), d));
    if (job.request().getReturnRouting()) {
      resp.setTopkIds(TensorCodec.encodeInt(routing.ids(), routing.tokens(), routing.k()))
          .setTopkWeights(TensorCodec.encodeFloat(routing.weights(), routing.tokens(), routing.k()));
    }
    return reply(new ForwardOutcome.Succeeded(resp.build()), Status.Code.OK);
  }

  private Behavior<Command> fail(Status status) {
    return reply(new ForwardOutcome.Failed(status), status.getCode());
  }

  private Behavior<Command> reply(ForwardOutcome outcome, Status.Code code) {
    table.active().decrementAndGet();
    replyTo.tell(outcome);
    telemetry.requestEnded(job.tokens(), System.nanoTime() - job.startNanos(), code);
    return Behaviors.stopped();
  }

  private static Map<ExpertId, Long> tokensPerExpert(int layer, Routing routing) {
    Map<ExpertId, Long> out = new HashMap<>();
    for (int id : routing.ids()) {
      out.merge(new ExpertId(layer, id), 1L, Long::sum);
    }
    return out;
  }

}
