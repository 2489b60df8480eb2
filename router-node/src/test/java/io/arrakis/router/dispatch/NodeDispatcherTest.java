package io.arrakis.router.dispatch;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.plan.NodeHealth;
import io.arrakis.router.plan.NodeSlice;
import io.arrakis.router.plan.ReplicaLoad;
import io.arrakis.router.stats.LoadStats;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The dispatcher's batching rules, against a node whose calls the test completes by hand. */
class NodeDispatcherTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static final int D = 2;

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /** Records each call; the test answers it. */
  static final class HandNode implements ExpertClient {
    record Call(ComputeRequest request, CompletableFuture<ComputeResponse> answer) {}

    final LinkedBlockingQueue<Call> calls = new LinkedBlockingQueue<>();

    @Override
    public CompletableFuture<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
      Call c = new Call(request, new CompletableFuture<>());
      calls.add(c);
      return c.answer();
    }

    volatile boolean serving = true;
    volatile NodeDescription description = NodeDescription.newBuilder().setHiddenSize(D).build();

    @Override
    public CompletionStage<NodeDescription> describe(Duration timeout) {
      return CompletableFuture.completedFuture(description);
    }

    @Override
    public CompletionStage<Void> load(List<ExpertId> experts, Duration timeout) {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout) {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Boolean> serving(Duration timeout) {
      return CompletableFuture.completedFuture(serving);
    }

    Call next() throws InterruptedException {
      Call c = calls.poll(5, TimeUnit.SECONDS);
      assertThat(c).as("a call to the node").isNotNull();
      return c;
    }

    void assertNoCall() throws InterruptedException {
      assertThat(calls.poll(200, TimeUnit.MILLISECONDS)).as("no further call").isNull();
    }

    /** Answers with partial sums whose row i is (batch row i) * 10. */
    static void answer(Call c) {
      int n = (int) c.request().getHiddenStates().getShape(0);
      ByteBuffer b = ByteBuffer.allocate(n * D * 4).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < n * D; i++) {
        b.putFloat(10f * i);
      }
      c.answer()
          .complete(
              ComputeResponse.newBuilder()
                  .setBatchId(c.request().getBatchId())
                  .setPartialSums(
                      Tensor.newBuilder()
                          .setDtype(DType.FLOAT32)
                          .addShape(n)
                          .addShape(D)
                          .setData(ByteString.copyFrom(b.array())))
                  .build());
    }
  }

  final HandNode node = new HandNode();
  final TestProbe<NodeDispatcher.SliceReply> replies = testKit.createTestProbe();
  final NodeHealth health = new NodeHealth();
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final RouterTelemetry telemetry = new RouterTelemetry(registry, new LoadStats(Clock.systemUTC()));

  ActorRef<NodeDispatcher.Command> dispatcher(int maxInFlight, int maxBatchTokens) {
    return testKit.spawn(
        NodeDispatcher.create(
            "expert-0",
            node,
            new NodeDispatcher.Limits(maxInFlight, maxBatchTokens),
            D,
            new NodeDispatcher.Shared(new ReplicaLoad(), health, telemetry)));
  }

  double gauge() {
    return registry.find("arrakis_router_node_queue_depth").gauges().stream()
        .mapToDouble(g -> g.value())
        .sum();
  }

  static void awaitTrue(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("%s within 3 s", what).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  static NodeSlice slice(int tokens, int expert) {
    int[] ts = new int[tokens];
    int[] rows = new int[tokens];
    float[] w = new float[tokens];
    for (int i = 0; i < tokens; i++) {
      ts[i] = i;
      rows[i] = i;
      w[i] = 1f;
    }
    return new NodeSlice(
        "expert-0",
        0,
        ts,
        ByteString.copyFrom(new byte[tokens * D * 4]),
        List.of(new NodeSlice.ExpertRows(expert, rows, w)),
        0);
  }

  NodeDispatcher.Submit submit(NodeSlice s) {
    return new NodeDispatcher.Submit(
        s, System.nanoTime() + Duration.ofSeconds(30).toNanos(), replies.ref());
  }

  @Test
  void anIdleNodeGetsASliceAtOnce() throws Exception {
    var d = dispatcher(1, 100);
    d.tell(submit(slice(3, 0)));
    HandNode.Call c = node.next();
    assertThat(c.request().getHiddenStates().getShapeList()).containsExactly(3L, (long) D);
  }

  @Test
  void slicesAccumulateWhileTheNodeIsBusyAndGoOutTogether() throws Exception {
    var d = dispatcher(1, 100);
    d.tell(submit(slice(2, 0)));
    HandNode.Call first = node.next();
    d.tell(submit(slice(3, 1)));
    d.tell(submit(slice(4, 1)));
    node.assertNoCall();
    HandNode.answer(first);
    HandNode.Call merged = node.next();
    assertThat(merged.request().getHiddenStates().getShape(0)).isEqualTo(7);
    // one assignment for expert 1 across both slices, rows offset into the stacked batch
    assertThat(merged.request().getAssignmentsList()).hasSize(1);
    assertThat(merged.request().getAssignments(0).getRowsList())
        .containsExactly(0, 1, 2, 3, 4, 5, 6);
  }

  @Test
  void theTokenCapSplitsBatches() throws Exception {
    var d = dispatcher(1, 5);
    d.tell(submit(slice(2, 0)));
    HandNode.Call first = node.next();
    d.tell(submit(slice(3, 0)));
    d.tell(submit(slice(3, 0)));
    HandNode.answer(first);
    HandNode.Call a = node.next();
    assertThat(a.request().getHiddenStates().getShape(0)).isEqualTo(3);
    HandNode.answer(a);
    HandNode.Call b = node.next();
    assertThat(b.request().getHiddenStates().getShape(0)).isEqualTo(3);
  }

  /**
   * A slice larger than a call may carry goes in several calls, each within the cap, and is
   * answered once.
   */
  @Test
  void aSliceLargerThanTheTokenCapGoesInSeveralCallsAndIsAnsweredOnce() throws Exception {
    var d = dispatcher(1, 5);
    NodeSlice big = slice(8, 0);
    d.tell(submit(big));
    HandNode.Call a = node.next();
    assertThat(a.request().getHiddenStates().getShape(0)).isEqualTo(5);
    assertThat(a.request().getAssignments(0).getRowsList()).containsExactly(0, 1, 2, 3, 4);
    HandNode.answer(a);
    HandNode.Call b = node.next();
    assertThat(b.request().getHiddenStates().getShape(0)).isEqualTo(3);
    assertThat(b.request().getAssignments(0).getRowsList()).containsExactly(0, 1, 2);
    replies.expectNoMessage(Duration.ofMillis(100));
    HandNode.answer(b);
    NodeDispatcher.SliceDone done = replies.expectMessageClass(NodeDispatcher.SliceDone.class);
    assertThat(done.slice()).isSameAs(big);
    assertThat(floats(done.partialSums()))
        .containsExactly(
            0f, 10f, 20f, 30f, 40f, 50f, 60f, 70f, 80f, 90f, 0f, 10f, 20f, 30f, 40f, 50f);
    replies.expectNoMessage(Duration.ofMillis(100));
  }

  /**
   * The node says how many bytes it takes per call: every call fits, however many tokens the router
   * would send.
   */
  @Test
  void callsFitTheBytesTheNodeSaysItTakes() throws Exception {
    int perCall = 3;
    // room for three rows of D floats with their pair, the call's and the assignment's overhead
    long limit =
        NodeCapacity.CALL_BYTES
            + NodeCapacity.ASSIGNMENT_BYTES
            + perCall * (D * 4L + NodeCapacity.PAIR_BYTES);
    node.description = node.description.toBuilder().setMaxRequestBytes(limit).build();
    var d = dispatcher(2, 100);
    d.tell(submit(slice(7, 0)));
    List<HandNode.Call> calls = List.of(node.next(), node.next());
    assertThat(calls)
        .allSatisfy(
            c -> {
              assertThat(c.request().getHiddenStates().getShape(0)).isEqualTo(perCall);
              assertThat((long) c.request().getSerializedSize()).isLessThanOrEqualTo(limit);
            });
    calls.forEach(HandNode::answer);
    HandNode.Call last = node.next();
    assertThat(last.request().getHiddenStates().getShape(0)).isEqualTo(1);
    HandNode.answer(last);
    assertThat(floats(replies.expectMessageClass(NodeDispatcher.SliceDone.class).partialSums()))
        .hasSize(7 * D);
  }

  /**
   * A node computing in bf16 gets its rows as bf16 (rounded once) and its bf16 answer is widened
   * exactly.
   */
  @Test
  void aNodeComputingInBf16GetsBf16RowsAndItsBf16AnswerIsDecoded() throws Exception {
    node.description = node.description.toBuilder().setComputeDtype(DType.BFLOAT16).build();
    var d = dispatcher(1, 100);
    ByteBuffer rows = ByteBuffer.allocate(2 * D * 4).order(ByteOrder.LITTLE_ENDIAN);
    rows.putFloat(1.00390625f).putFloat(-2f).putFloat(3.5f).putFloat(1e-3f);
    NodeSlice s =
        new NodeSlice(
            "expert-0",
            0,
            new int[] {0, 1},
            ByteString.copyFrom(rows.array()),
            List.of(new NodeSlice.ExpertRows(0, new int[] {0, 1}, new float[] {1f, 1f})),
            0);
    d.tell(submit(s));
    HandNode.Call c = node.next();
    Tensor sent = c.request().getHiddenStates();
    assertThat(sent.getDtype()).isEqualTo(DType.BFLOAT16);
    ShortBuffer got =
        sent.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
    assertThat(new short[] {got.get(0), got.get(1), got.get(2), got.get(3)})
        .containsExactly(
            Bf16.fromFloat(1.00390625f),
            Bf16.fromFloat(-2f),
            Bf16.fromFloat(3.5f),
            Bf16.fromFloat(1e-3f));
    ByteBuffer answer = ByteBuffer.allocate(2 * D * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : new float[] {0.5f, -1.25f, 7f, 0.0078125f}) {
      answer.putShort(Bf16.fromFloat(v));
    }
    c.answer()
        .complete(
            ComputeResponse.newBuilder()
                .setPartialSums(
                    Tensor.newBuilder()
                        .setDtype(DType.BFLOAT16)
                        .addShape(2)
                        .addShape(D)
                        .setData(ByteString.copyFrom(answer.array())))
                .build());
    assertThat(floats(replies.expectMessageClass(NodeDispatcher.SliceDone.class).partialSums()))
        .containsExactly(0.5f, -1.25f, 7f, 0.0078125f);
  }

  /**
   * A node whose hidden size is not the model's cannot serve: it leaves the rotation and its slices
   * fail at once.
   */
  @Test
  void aNodeDescribingAnotherHiddenSizeIsRefused() throws Exception {
    node.description = node.description.toBuilder().setHiddenSize(D + 1).build();
    var d = dispatcher(1, 100);
    d.tell(submit(slice(2, 0)));
    NodeDispatcher.SliceFailed f = replies.expectMessageClass(NodeDispatcher.SliceFailed.class);
    assertThat(f.status().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(f.status().getDescription()).contains("expert-0").contains("hidden size " + (D + 1));
    assertThat(health.inRotation("expert-0")).isFalse();
    node.assertNoCall();
    // the node comes back described as it should: it serves again
    node.description = node.description.toBuilder().setHiddenSize(D).build();
    awaitRotation(true);
    d.tell(submit(slice(1, 0)));
    HandNode.answer(node.next());
    replies.expectMessageClass(NodeDispatcher.SliceDone.class);
  }

  /**
   * Withdrawn slices leave the queue; a call carrying only withdrawn slices is cancelled, one
   * shared with others is not.
   */
  @Test
  void withdrawnSlicesLeaveTheQueueAndACallCarryingOnlyThemIsCancelled() throws Exception {
    var d = dispatcher(1, 100);
    TestProbe<NodeDispatcher.SliceReply> gone = testKit.createTestProbe();
    d.tell(
        new NodeDispatcher.Submit(
            slice(2, 0), System.nanoTime() + Duration.ofSeconds(30).toNanos(), gone.ref()));
    HandNode.Call alone = node.next();
    d.tell(
        new NodeDispatcher.Submit(
            slice(3, 0), System.nanoTime() + Duration.ofSeconds(30).toNanos(), gone.ref()));
    d.tell(submit(slice(4, 0)));
    d.tell(new NodeDispatcher.Withdraw(gone.ref()));
    awaitTrue("the lone call cancelled", () -> alone.answer().isCancelled());
    // the next call carries only the slice that was not withdrawn
    HandNode.Call next = node.next();
    assertThat(next.request().getHiddenStates().getShape(0)).isEqualTo(4);
    assertThat(gauge()).isZero();
    // a call shared with a requester that stays is not cancelled: it gets its answer, the other
    // none
    d.tell(
        new NodeDispatcher.Submit(
            slice(1, 0), System.nanoTime() + Duration.ofSeconds(30).toNanos(), gone.ref()));
    d.tell(submit(slice(2, 0)));
    HandNode.answer(next);
    replies.expectMessageClass(NodeDispatcher.SliceDone.class);
    HandNode.Call shared = node.next();
    assertThat(shared.request().getHiddenStates().getShape(0)).isEqualTo(3);
    d.tell(new NodeDispatcher.Withdraw(gone.ref()));
    Thread.sleep(100);
    assertThat(shared.answer().isCancelled()).isFalse();
    HandNode.answer(shared);
    assertThat(replies.expectMessageClass(NodeDispatcher.SliceDone.class).slice().size())
        .isEqualTo(2);
    gone.expectNoMessage(Duration.ofMillis(100));
  }

  @Test
  void pastItsQueueLimitANodeRefusesSlicesWithResourceExhausted() throws Exception {
    var d =
        testKit.spawn(
            NodeDispatcher.create(
                "expert-0",
                node,
                new NodeDispatcher.Limits(1, 100).withMaxQueuedTokens(5),
                D,
                new NodeDispatcher.Shared(new ReplicaLoad(), health, telemetry)));
    d.tell(submit(slice(2, 0)));
    node.next();
    d.tell(submit(slice(4, 0)));
    d.tell(submit(slice(1, 0)));
    NodeDispatcher.Submit over = submit(slice(1, 0));
    d.tell(over);
    NodeDispatcher.SliceFailed f = replies.expectMessageClass(NodeDispatcher.SliceFailed.class);
    assertThat(f.slice()).isSameAs(over.slice());
    assertThat(f.status().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(f.status().getDescription()).contains("expert-0").contains("5 tokens waiting");
  }

  @Test
  void aDrainedDispatcherStopsAndItsQueueGaugeGoes() throws Exception {
    var d = dispatcher(1, 100);
    d.tell(submit(slice(1, 0)));
    HandNode.Call c = node.next();
    assertThat(registry.find("arrakis_router_node_queue_depth").gauges()).hasSize(1);
    d.tell(new NodeDispatcher.Drain());
    TestProbe<Object> watcher = testKit.createTestProbe();
    HandNode.answer(c);
    replies.expectMessageClass(NodeDispatcher.SliceDone.class);
    watcher.expectTerminated(d, Duration.ofSeconds(3));
    assertThat(registry.find("arrakis_router_node_queue_depth").gauges()).isEmpty();
  }

  @Test
  void noMoreThanMaxInFlightCallsAreOut() throws Exception {
    var d = dispatcher(2, 1);
    for (int i = 0; i < 5; i++) {
      d.tell(submit(slice(1, 0)));
    }
    HandNode.Call a = node.next();
    HandNode.Call b = node.next();
    node.assertNoCall();
    HandNode.answer(a);
    node.next();
    node.assertNoCall();
    HandNode.answer(b);
    node.next();
  }

  @Test
  void aFailedCallFailsExactlyTheSlicesInIt() throws Exception {
    var d = dispatcher(1, 100);
    NodeSlice first = slice(1, 0);
    d.tell(submit(first));
    HandNode.Call c1 = node.next();
    NodeSlice second = slice(2, 0);
    NodeSlice third = slice(3, 0);
    d.tell(submit(second));
    d.tell(submit(third));
    HandNode.answer(c1);
    assertThat(replies.expectMessageClass(NodeDispatcher.SliceDone.class).slice()).isSameAs(first);
    HandNode.Call c2 = node.next();
    c2.answer()
        .completeExceptionally(
            Status.UNAVAILABLE.withDescription("connection refused").asRuntimeException());
    List<NodeDispatcher.SliceReply> failed = replies.receiveSeveralMessages(2);
    assertThat(failed)
        .allSatisfy(
            r -> {
              assertThat(r).isInstanceOf(NodeDispatcher.SliceFailed.class);
              Status s = ((NodeDispatcher.SliceFailed) r).status();
              assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
              assertThat(s.getDescription()).contains("expert-0").contains("connection refused");
            });
    assertThat(failed)
        .extracting(NodeDispatcher.SliceReply::slice)
        .containsExactlyInAnyOrder(second, third);
    // the node still serves later work
    d.tell(submit(slice(1, 0)));
    HandNode.answer(node.next());
    replies.expectMessageClass(NodeDispatcher.SliceDone.class);
  }

  @Test
  void eachSliceGetsItsOwnRowsOfTheAnswer() throws Exception {
    var d = dispatcher(1, 100);
    d.tell(submit(slice(1, 0)));
    HandNode.Call first = node.next();
    d.tell(submit(slice(2, 0)));
    d.tell(submit(slice(1, 0)));
    HandNode.answer(first);
    replies.expectMessageClass(NodeDispatcher.SliceDone.class);
    HandNode.answer(node.next());
    List<NodeDispatcher.SliceReply> got = replies.receiveSeveralMessages(2);
    float[] a = floats(((NodeDispatcher.SliceDone) got.get(0)).partialSums());
    float[] b = floats(((NodeDispatcher.SliceDone) got.get(1)).partialSums());
    assertThat(a).containsExactly(0f, 10f, 20f, 30f);
    assertThat(b).containsExactly(40f, 50f);
  }

  @Test
  void aSliceWhoseDeadlinePassedWhileQueuedIsFailedNotSent() throws Exception {
    var d = dispatcher(1, 100);
    d.tell(submit(slice(1, 0)));
    HandNode.Call first = node.next();
    d.tell(
        new NodeDispatcher.Submit(
            slice(1, 0), System.nanoTime() + Duration.ofMillis(50).toNanos(), replies.ref()));
    Thread.sleep(100);
    HandNode.answer(first);
    replies.expectMessageClass(NodeDispatcher.SliceDone.class);
    NodeDispatcher.SliceFailed late = replies.expectMessageClass(NodeDispatcher.SliceFailed.class);
    assertThat(late.status().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    node.assertNoCall();
  }

  @Test
  void aNodeThatStopsServingLeavesTheRotationAndComesBack() throws Exception {
    dispatcher(1, 100);
    node.serving = false;
    awaitRotation(false);
    node.serving = true;
    awaitRotation(true);
  }

  @Test
  void aCallFailingUnavailableTakesTheNodeOutAtOnce() throws Exception {
    var d = dispatcher(1, 100);
    d.tell(submit(slice(1, 0)));
    node.serving = false; // keep the health check from putting it back during the test
    node.next().answer().completeExceptionally(Status.UNAVAILABLE.asRuntimeException());
    replies.expectMessageClass(NodeDispatcher.SliceFailed.class);
    assertThat(health.inRotation("expert-0")).isFalse();
  }

  void awaitRotation(boolean in) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
    while (health.inRotation("expert-0") != in) {
      assertThat(System.nanoTime()).as("rotation %s within 2 s", in).isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  static float[] floats(ByteString b) {
    float[] out = new float[b.size() / 4];
    b.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }
}
