package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.arrakis.expert.store.ExpertSpec;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.Tensor;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * 10,000 malformed Compute calls of every class (shapes, dtypes, byte counts, NaN/Inf, huge
 * dimensions, bad assignments, garbage bytes): each gets the status of its class with a message,
 * never UNKNOWN or INTERNAL, and the node answers a good call correctly afterwards.
 */
class MalformedRequestFuzzTest {
  static final int CALLS = 10_000;

  enum Kind {
    RANK,
    DIMENSION,
    HUGE,
    DTYPE,
    BYTES,
    NOT_FINITE,
    NO_ASSIGNMENTS,
    EXPERT,
    ROW,
    DUPLICATE_ROW,
    WEIGHTS,
    WEIGHT_NAN,
    GARBAGE
  }

  @Test
  void everyMalformedCallGetsTheStatusOfItsClassAndTheNodeKeepsServing() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    try (ExpertNodeHarness node =
        new ExpertNodeHarness(dir, List.of(), ExpertNodeHarness.defaults())) {
      node.server.store().load(ExpertSpec.parse("0:0-5", node.model.moeLayers(), 8));
      INDArray x;
      try (SafetensorsFile in = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
        x = NdArrays.readFloat(in, "hidden_states");
      }
      Routing routing = node.model.gate(0).route(x);
      ComputeRequest good = Batches.fromRouting("good", 0, x, routing, 8, e -> e < 6);
      ComputeResponse expected = node.stub().compute(good);

      Random rnd = new Random(20261128);
      Map<Kind, Integer> seen = new EnumMap<>(Kind.class);
      for (int i = 0; i < CALLS; i++) {
        Kind kind = Kind.values()[rnd.nextInt(Kind.values().length)];
        Status status =
            kind == Kind.GARBAGE
                ? callRaw(node, garbage(rnd))
                : call(node, mutate(kind, good, rnd));
        assertThat(status.getCode()).as("%s call %d: %s", kind, i, status).isIn(allowed(kind));
        assertThat(status.getDescription()).as("%s call %d has a message", kind, i).isNotBlank();
        seen.merge(kind, 1, Integer::sum);
      }
      assertThat(seen).hasSize(Kind.values().length);
      assertThat(node.stub().compute(good).getPartialSums()).isEqualTo(expected.getPartialSums());
    }
  }

  static Set<Status.Code> allowed(Kind kind) {
    return switch (kind) {
      case HUGE -> Set.of(Status.Code.RESOURCE_EXHAUSTED, Status.Code.INVALID_ARGUMENT);
      default -> Set.of(Status.Code.INVALID_ARGUMENT);
    };
  }

  static ComputeRequest mutate(Kind kind, ComputeRequest good, Random rnd) {
    Tensor h = good.getHiddenStates();
    Function<Tensor.Builder, ComputeRequest> with =
        t -> good.toBuilder().setHiddenStates(t).build();
    return switch (kind) {
      case RANK -> {
        Tensor.Builder t = h.toBuilder().clearShape();
        int rank = new int[] {0, 1, 3, 4}[rnd.nextInt(4)];
        for (int i = 0; i < rank; i++) {
          t.addShape(1 + rnd.nextInt(64));
        }
        yield with.apply(t);
      }
      case DIMENSION ->
          with.apply(
              h.toBuilder().setShape(rnd.nextInt(2), rnd.nextBoolean() ? -rnd.nextInt(100) : 0));
      case HUGE ->
          with.apply(h.toBuilder().setShape(0, (1L << 20) + rnd.nextInt(Integer.MAX_VALUE)));
      case DTYPE ->
          with.apply(h.toBuilder().setDtypeValue(new int[] {0, 3, 4, 5, 99, -1}[rnd.nextInt(6)]));
      case BYTES ->
          with.apply(
              h.toBuilder().setData(h.getData().substring(0, rnd.nextInt(h.getData().size()))));
      case NOT_FINITE -> {
        ByteBuffer b = ByteBuffer.wrap(h.getData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        float bad =
            new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}
                [rnd.nextInt(3)];
        b.putFloat(4 * rnd.nextInt(b.capacity() / 4), bad);
        yield with.apply(h.toBuilder().setData(ByteString.copyFrom(b.array())));
      }
      case NO_ASSIGNMENTS -> good.toBuilder().clearAssignments().build();
      case EXPERT ->
          good.toBuilder()
              .setAssignments(
                  0,
                  good.getAssignments(0).toBuilder()
                      .setLayer(rnd.nextBoolean() ? 7 + rnd.nextInt(100) : 0)
                      .setExpert(rnd.nextBoolean() ? 6 + rnd.nextInt(2) : 8 + rnd.nextInt(1000)))
              .build();
      case ROW ->
          good.toBuilder()
              .setAssignments(
                  0, good.getAssignments(0).toBuilder().setRows(0, 32 + rnd.nextInt(1 << 30)))
              .build();
      case DUPLICATE_ROW -> {
        Assignment a = good.getAssignments(0);
        yield good.toBuilder()
            .setAssignments(0, a.toBuilder().addRows(a.getRows(0)).addWeights(0.5f))
            .build();
      }
      case WEIGHTS ->
          good.toBuilder()
              .setAssignments(0, good.getAssignments(0).toBuilder().addWeights(1f))
              .build();
      case WEIGHT_NAN ->
          good.toBuilder()
              .setAssignments(0, good.getAssignments(0).toBuilder().setWeights(0, Float.NaN))
              .build();
      case GARBAGE -> throw new IllegalArgumentException("garbage is sent raw");
    };
  }

  static byte[] garbage(Random rnd) {
    byte[] b = new byte[1 + rnd.nextInt(256)];
    rnd.nextBytes(b);
    b[0] = (byte) 0xff; // an invalid field tag, so the bytes never parse by chance
    return b;
  }

  static Status call(ExpertNodeHarness node, ComputeRequest req) {
    try {
      node.stub().withDeadlineAfter(10, TimeUnit.SECONDS).compute(req);
      return Status.OK.withDescription("accepted");
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }

  static final MethodDescriptor.Marshaller<byte[]> RAW =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new IllegalStateException(e);
          }
        }
      };

  static Status callRaw(ExpertNodeHarness node, byte[] body) {
    MethodDescriptor<byte[], byte[]> m = ExpertGrpc.getComputeMethod().toBuilder(RAW, RAW).build();
    try {
      ClientCalls.blockingUnaryCall(
          node.channel, m, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), body);
      return Status.OK.withDescription("accepted");
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }

  static float[] floats(ComputeResponse r) {
    return TensorCodec.floats(r.getPartialSums());
  }
}
