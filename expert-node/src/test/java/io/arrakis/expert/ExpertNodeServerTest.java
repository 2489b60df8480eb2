package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.arrakis.expert.store.ExpertSpec;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.ExpertRef;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * An expert node over loopback Netty, checked against the fixtures of an independent
 * implementation.
 */
class ExpertNodeServerTest {
  static final int LAYER = 1;
  static Path dir;
  static ExpertNodeHarness node;
  static INDArray x;
  static Routing routing;
  static float[] expected;

  @BeforeAll
  static void start() throws Exception {
    dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    // holds every expert of layer 1 and experts 0-3 of layer 0
    node = new ExpertNodeHarness(dir, List.of(), ExpertNodeHarness.defaults());
    node.server.store().load(ExpertSpec.parse("1:*,0:0-3", node.model.moeLayers(), 8));
    try (SafetensorsFile in = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
      x = NdArrays.readFloat(in, "hidden_states");
    }
    routing = node.model.gate(LAYER).route(x);
    expected = Fixtures.floats(dir.resolve("expected-layer1.safetensors"), "output");
  }

  @AfterAll
  static void stop() throws Exception {
    node.close();
  }

  static ComputeRequest goodRequest() {
    return Batches.fromRouting("good", LAYER, x, routing, 8, e -> true);
  }

  @Test
  void multiExpertBatchEqualsTheFixture() {
    ComputeResponse resp = node.stub().compute(goodRequest());

    assertThat(resp.getBatchId()).isEqualTo("good");
    assertThat(resp.getPartialSums().getShapeList()).containsExactly(32L, 64L);
    float[] got = TensorCodec.floats(resp.getPartialSums());
    assertThat(Fixtures.maxAbsDiff(got, expected))
        .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(expected));
  }

  @Test
  void partialSumsOfTwoNodesAddUpToTheReference() throws Exception {
    ComputeResponse low =
        node.stub().compute(Batches.fromRouting("low", LAYER, x, routing, 8, e -> e < 4));
    ComputeResponse high =
        node.stub().compute(Batches.fromRouting("high", LAYER, x, routing, 8, e -> e >= 4));

    float[] a = TensorCodec.floats(low.getPartialSums());
    float[] b = TensorCodec.floats(high.getPartialSums());
    float[] sum = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      sum[i] = a[i] + b[i];
    }
    assertThat(Fixtures.maxAbsDiff(sum, expected))
        .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(expected));
    float[] reference = ReferenceMoe.load(node.model, LAYER).forward(x).output().data().asFloat();
    assertThat(Fixtures.maxAbsDiff(sum, reference))
        .isLessThanOrEqualTo(1e-5f * Fixtures.maxAbs(expected));
  }

  @Test
  void oneCallCoversExpertsOfSeveralLayers() throws Exception {
    Routing r0 = node.model.gate(0).route(x);
    ComputeRequest layer0 = Batches.fromRouting("l0", 0, x, r0, 8, e -> e < 4);
    ComputeRequest both =
        goodRequest().toBuilder().addAllAssignments(layer0.getAssignmentsList()).build();

    float[] got = TensorCodec.floats(node.stub().compute(both).getPartialSums());
    float[] one = TensorCodec.floats(node.stub().compute(goodRequest()).getPartialSums());
    float[] other = TensorCodec.floats(node.stub().compute(layer0).getPartialSums());
    for (int i = 0; i < got.length; i++) {
      assertThat(got[i]).isCloseTo(one[i] + other[i], Offset.offset(1e-5f));
    }
  }

  /**
   * BFLOAT16 rows are widened exactly and computed in float32 (the CPU backend's compute dtype);
   * the answer comes back in the request's dtype, each partial sum rounded once to bfloat16.
   */
  @Test
  void bf16HiddenStatesAreAnsweredInBf16() {
    float[] xs = x.data().asFloat();
    float[] rounded = new float[xs.length];
    ByteString.Output bytes = ByteString.newOutput();
    for (int i = 0; i < xs.length; i++) {
      short s = Bf16.fromFloat(xs[i]);
      rounded[i] = Bf16.toFloat(s);
      bytes.write(s & 0xFF);
      bytes.write((s >> 8) & 0xFF);
    }
    ComputeRequest bf16 =
        goodRequest().toBuilder()
            .setHiddenStates(
                Tensor.newBuilder()
                    .setDtype(DType.BFLOAT16)
                    .addShape(32)
                    .addShape(64)
                    .setData(bytes.toByteString()))
            .build();
    Tensor sums = node.stub().compute(bf16).getPartialSums();
    assertThat(sums.getDtype()).isEqualTo(DType.BFLOAT16);
    assertThat(sums.getShapeList()).containsExactly(32L, 64L);
    assertThat(sums.getData().size()).isEqualTo(32 * 64 * 2);
    // the same rows sent as FLOAT32 give the float32 sums; bf16's are those, rounded to nearest
    // even
    ComputeRequest f32 =
        goodRequest().toBuilder().setHiddenStates(TensorCodec.encodeFloat(rounded, 32, 64)).build();
    float[] want = TensorCodec.floats(node.stub().compute(f32).getPartialSums());
    ShortBuffer got =
        sums.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
    for (int i = 0; i < want.length; i++) {
      assertThat(got.get(i)).as("element %d", i).isEqualTo(Bf16.fromFloat(want[i]));
    }
  }

  static Stream<Arguments> badRequests() {
    return Stream.of(
        bad(
            "wrong dtype",
            r -> r.setHiddenStates(r.getHiddenStates().toBuilder().setDtype(DType.INT32)),
            "hidden_states.dtype"),
        bad(
            "unspecified dtype",
            r ->
                r.setHiddenStates(
                    r.getHiddenStates().toBuilder().setDtype(DType.DTYPE_UNSPECIFIED)),
            "hidden_states.dtype"),
        bad(
            "rank 3",
            r ->
                r.setHiddenStates(
                    r.getHiddenStates().toBuilder()
                        .clearShape()
                        .addShape(1)
                        .addShape(32)
                        .addShape(64)),
            "hidden_states.shape"),
        bad(
            "wrong width",
            r -> r.setHiddenStates(r.getHiddenStates().toBuilder().setShape(1, 32)),
            "hidden_states.shape[1]"),
        bad(
            "zero tokens",
            r -> r.setHiddenStates(r.getHiddenStates().toBuilder().setShape(0, 0)),
            "hidden_states.shape[0]"),
        bad(
            "negative tokens",
            r -> r.setHiddenStates(r.getHiddenStates().toBuilder().setShape(0, -1)),
            "hidden_states.shape[0]"),
        bad(
            "byte count",
            r ->
                r.setHiddenStates(
                    r.getHiddenStates().toBuilder()
                        .setData(r.getHiddenStates().getData().substring(4))),
            "hidden_states.data"),
        bad(
            "NaN",
            r -> r.setHiddenStates(withValue(r.getHiddenStates(), Float.NaN)),
            "hidden_states"),
        bad(
            "infinity",
            r -> r.setHiddenStates(withValue(r.getHiddenStates(), Float.NEGATIVE_INFINITY)),
            "hidden_states"),
        bad("no assignments", ComputeRequest.Builder::clearAssignments, "assignments"),
        bad(
            "expert not held",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().setLayer(0).setExpert(7)),
            "not held"),
        bad(
            "layer not held",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().setLayer(9)),
            "not held"),
        bad(
            "row out of range",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().setRows(0, 32)),
            "assignments[0].rows[0]"),
        bad(
            "huge row",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().setRows(0, -1)),
            "assignments[0].rows[0]"),
        bad(
            "duplicate row",
            r -> r.setAssignments(0, duplicateRow(r.getAssignments(0))),
            "appears twice"),
        bad(
            "weights count",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().addWeights(0.5f)),
            "assignments[0].weights"),
        bad(
            "NaN weight",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().setWeights(0, Float.NaN)),
            "assignments[0].weights[0]"),
        bad(
            "empty rows",
            r -> r.setAssignments(0, r.getAssignments(0).toBuilder().clearRows().clearWeights()),
            "assignments[0].rows"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badRequests")
  void badRequestIsInvalidArgumentNamingTheFieldAndTheNodeGoesOn(
      String name, UnaryOperator<ComputeRequest.Builder> breakIt, String field) {
    ComputeRequest bad = breakIt.apply(goodRequest().toBuilder()).build();

    assertThatThrownBy(() -> node.stub().compute(bad))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains(field);
            });
    float[] got = TensorCodec.floats(node.stub().compute(goodRequest()).getPartialSums());
    assertThat(Fixtures.maxAbsDiff(got, expected))
        .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(expected));
  }

  @Test
  void tooManyTokensIsResourceExhausted() {
    int max = ExpertNodeHarness.defaults().maxBatchTokens();
    ComputeRequest big =
        goodRequest().toBuilder()
            .setHiddenStates(
                Tensor.newBuilder()
                    .setDtype(DType.FLOAT32)
                    .addShape(max + 1)
                    .addShape(64)
                    .setData(ByteString.copyFrom(new byte[(max + 1) * 64 * 4])))
            .build();

    assertThatThrownBy(() -> node.stub().compute(big))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
              assertThat(e.getStatus().getDescription()).contains("hidden_states.shape[0]");
            });
  }

  @Test
  void describeLoadAndUnload() {
    ExpertGrpc.ExpertBlockingStub stub = node.stub();
    NodeDescription before = stub.describe(DescribeRequest.getDefaultInstance());
    assertThat(before.getNodeId()).isEqualTo("expert-test");
    assertThat(before.getHiddenSize()).isEqualTo(64);
    assertThat(before.getDevice()).matches("cpu \\(nd4j CPU, blas \\w+\\)");
    assertThat(before.getComputeDtype()).isEqualTo(DType.FLOAT32);
    assertThat(before.getExpertsList())
        .hasSize(12)
        .contains(ref(0, 3), ref(1, 7))
        .doesNotContain(ref(0, 4));

    assertThat(
            stub.loadExperts(LoadExpertsRequest.newBuilder().addExperts(ref(0, 4)).build())
                .getExpertsList())
        .hasSize(13)
        .contains(ref(0, 4));
    assertThat(
            stub.unloadExperts(UnloadExpertsRequest.newBuilder().addExperts(ref(0, 4)).build())
                .getExpertsList())
        .hasSize(12)
        .doesNotContain(ref(0, 4));

    assertThatThrownBy(
            () -> stub.loadExperts(LoadExpertsRequest.newBuilder().addExperts(ref(5, 0)).build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
    assertThatThrownBy(
            () -> stub.loadExperts(LoadExpertsRequest.newBuilder().addExperts(ref(0, 8)).build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getDescription()).contains("experts[0].expert"));
  }

  /**
   * Expert and layer ids are uint32 on the wire: ids of 2^31 and more are out of range, not
   * negative.
   */
  @Test
  void expertIdsPastIntegerRangeAreInvalidArgument() {
    ExpertGrpc.ExpertBlockingStub stub = node.stub();
    ExpertRef hugeExpert = ExpertRef.newBuilder().setLayer(0).setExpert(1 << 31).build();
    ExpertRef hugeLayer = ExpertRef.newBuilder().setLayer(-1).setExpert(0).build();
    for (ExpertRef bad : List.of(hugeExpert, hugeLayer)) {
      assertThatThrownBy(
              () -> stub.loadExperts(LoadExpertsRequest.newBuilder().addExperts(bad).build()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(e.getStatus().getDescription())
                    .contains("experts[0]")
                    .contains(bad.getExpert() != 0 ? "2147483648" : "4294967295");
              });
      assertThatThrownBy(
              () -> stub.unloadExperts(UnloadExpertsRequest.newBuilder().addExperts(bad).build()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
    }
    assertThat(stub.describe(DescribeRequest.getDefaultInstance()).getExpertsList()).hasSize(12);
  }

  /**
   * What a router needs to split its batches to this node: rows per call, bytes per call, compute
   * dtype.
   */
  @Test
  void describeSaysTheNodesLimitsAndComputeDtype() {
    NodeDescription d = node.stub().describe(DescribeRequest.getDefaultInstance());
    ExpertNodeSettings s = ExpertNodeHarness.defaults();
    assertThat(d.getMaxBatchTokens()).isEqualTo(s.maxBatchTokens());
    assertThat(d.getComputeDtype()).isEqualTo(DType.FLOAT32);
    // sized from the model: a full batch of float32 rows with their assignments fits
    long fullBatch = (long) s.maxBatchTokens() * 64 * Float.BYTES;
    assertThat(d.getMaxRequestBytes()).isGreaterThan(fullBatch).isLessThan(2 * fullBatch);
  }

  @Test
  void healthIsServingAndReflectionIsOn() {
    var health = HealthGrpc.newBlockingStub(node.channel);
    assertThat(
            health
                .check(HealthCheckRequest.newBuilder().setService("arrakis.v1.Expert").build())
                .getStatus())
        .isEqualTo(ServingStatus.SERVING);
    var listed = Reflection.listServices(node.channel);
    assertThat(listed).contains("arrakis.v1.Expert", "grpc.health.v1.Health");
    // and it describes the service's methods, as grpcurl needs to call them
    assertThat(Reflection.methods(node.channel, "arrakis.v1.Expert"))
        .containsExactlyInAnyOrder("Compute", "Describe", "LoadExperts", "UnloadExperts");
  }

  private static ExpertRef ref(int layer, int expert) {
    return new ExpertId(layer, expert).toProto();
  }

  private static Arguments bad(String name, UnaryOperator<ComputeRequest.Builder> f, String field) {
    return Arguments.of(name, f, field);
  }

  private static Tensor withValue(Tensor t, float value) {
    byte[] data = t.getData().toByteArray();
    int bits = Float.floatToRawIntBits(value);
    int at = 4 * 100;
    for (int i = 0; i < 4; i++) {
      data[at + i] = (byte) (bits >>> (8 * i));
    }
    return t.toBuilder().setData(ByteString.copyFrom(data)).build();
  }

  private static Assignment duplicateRow(Assignment a) {
    return a.toBuilder().addRows(a.getRows(0)).addWeights(0.1f).build();
  }
}
