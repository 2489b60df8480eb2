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
import io.arrakis.router.plan.NodeSlice;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 */
public final class RequestCoordinator {

  public sealed interface Command {}

  private record Reply(NodeDispatcher.SliceReply reply) implements Command {}

  private record DeadlinePassed() implements Command {}

  private final ForwardJob job;
  private final RoutingTable table;
  private final RouterTelemetry telemetry;
  private final ActorRef<ForwardOutcome> replyTo;
  private final Map<String, NodeDispatcher.SliceDone> done = new TreeMap<>();
  private Routing routing;
  private int expected;

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
    ByteString rows = req.getHiddenStates().getDtype() == DType.FLOAT32
        ? req.getHiddenStates().getData()
        : UnsafeByteOperations.unsafeWrap(io.arrakis.model.tensor.NdArrays.toBytes(x));
    List<NodeSlice> slices = table.planner().plan(layer, routing, rows, table.hidden());
    ActorRef<NodeDispatcher.SliceReply> adapter = ctx.messageAdapter(NodeDispatcher.SliceReply.class, Reply::new);
    for (NodeSlice s : slices) {
      table.dispatchers().get(s.nodeId()).tell(new NodeDispatcher.Submit(s, job.deadlineNanos(), adapter));
    }
    expected = slices.size();
    timers.startSingleTimer(new DeadlinePassed(), Duration.ofNanos(Math.max(0, job.deadlineNanos() - System.nanoTime())));
    return Behaviors.receive(Command.class)
        .onMessage(Reply.class, this::onReply)
        .onMessage(DeadlinePassed.class, m -> fail(Status.DEADLINE_EXCEEDED.withDescription(
            "deadline passed with " + (expected - done.size()) + " of " + expected + " expert nodes still to answer")))
        .build();
  }

  private Behavior<Command> onReply(Reply m) {
    if (m.reply() instanceof NodeDispatcher.SliceFailed f) {
      return fail(f.status());
    }
    NodeDispatcher.SliceDone d = (NodeDispatcher.SliceDone) m.reply();
    done.put(d.slice().nodeId(), d);
    return done.size() < expected ? Behaviors.same() : succeed();
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
