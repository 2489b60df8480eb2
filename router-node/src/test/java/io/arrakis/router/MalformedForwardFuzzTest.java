package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
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
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * 10,000 malformed Forward calls of every class: each gets the status of its class with a message
 * (never UNKNOWN or INTERNAL), nothing is left in flight, and good calls are answered correctly
 * after.
 */
class MalformedForwardFuzzTest {
  static final int CALLS = 10_000;

  enum Kind {
    LAYER,
    RANK,
    DIMENSION,
    WIDTH,
    HUGE,
    DTYPE,
    BYTES,
    NOT_FINITE,
    NO_TENSOR,
    GARBAGE
  }

  @Test
  void everyMalformedCallGetsTheStatusOfItsClassAndTheRouterKeepsServing() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    try (RouterHarness h =
        new RouterHarness(
            Fixtures.MIXTRAL_TINY,
            RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 2, 1),
            RouterHarness.settings(),
            RouterHarness.loopback())) {
      float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
      ForwardRequest good =
          ForwardRequest.newBuilder()
              .setRequestId("good")
              .setLayer(1)
              .setHiddenStates(TensorCodec.encodeFloat(x, 32, 64))
              .build();
      Random rnd = new Random(7);
      Map<Kind, Integer> seen = new EnumMap<>(Kind.class);
      int threadsBefore = Thread.activeCount();
      for (int i = 0; i < CALLS; i++) {
        Kind kind = Kind.values()[rnd.nextInt(Kind.values().length)];
        Status status =
            kind == Kind.GARBAGE ? callRaw(h, garbage(rnd)) : call(h, mutate(kind, good, rnd));
        assertThat(status.getCode()).as("%s call %d: %s", kind, i, status).isIn(allowed(kind));
        assertThat(status.getDescription()).as("%s call %d has a message", kind, i).isNotBlank();
        seen.merge(kind, 1, Integer::sum);
      }
      assertThat(seen).hasSize(Kind.values().length);
      assertThat(Thread.activeCount()).as("threads after the fuzz").isLessThan(threadsBefore + 16);
      ForwardResponse r = h.inference().forward(good);
      float[] want = Fixtures.floats(dir.resolve("expected-layer1.safetensors"), "output");
      assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
          .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(want));
    }
  }

  static Set<Status.Code> allowed(Kind kind) {
    return kind == Kind.HUGE
        ? Set.of(Status.Code.RESOURCE_EXHAUSTED)
        : Set.of(Status.Code.INVALID_ARGUMENT);
  }

  static ForwardRequest mutate(Kind kind, ForwardRequest good, Random rnd) {
    Tensor h = good.getHiddenStates();
    Function<Tensor.Builder, ForwardRequest> with =
        t -> good.toBuilder().setHiddenStates(t).build();
    return switch (kind) {
      case LAYER ->
          good.toBuilder()
              .setLayer(2 + rnd.nextInt(Integer.MAX_VALUE - 2) * (rnd.nextBoolean() ? 1 : -1))
              .build();
      case RANK -> {
        Tensor.Builder t = h.toBuilder().clearShape();
        int rank = new int[] {0, 1, 3, 5}[rnd.nextInt(4)];
        for (int i = 0; i < rank; i++) {
          t.addShape(1 + rnd.nextInt(64));
        }
        yield with.apply(t);
      }
      case DIMENSION ->
          with.apply(h.toBuilder().setShape(0, rnd.nextBoolean() ? -1 - rnd.nextInt(1000) : 0));
      case WIDTH ->
          with.apply(h.toBuilder().setShape(1, rnd.nextBoolean() ? 63 : 65 + rnd.nextInt(100000)));
      case HUGE -> with.apply(h.toBuilder().setShape(0, 5000L + rnd.nextInt(Integer.MAX_VALUE)));
      case DTYPE ->
          with.apply(h.toBuilder().setDtypeValue(new int[] {0, 3, 4, 17, -5}[rnd.nextInt(5)]));
      case BYTES ->
          with.apply(
              h.toBuilder()
                  .setData(
                      rnd.nextBoolean()
                          ? h.getData().substring(0, rnd.nextInt(h.getData().size()))
                          : h.getData()
                              .concat(ByteString.copyFrom(new byte[1 + rnd.nextInt(64)]))));
      case NOT_FINITE -> {
        ByteBuffer b = ByteBuffer.wrap(h.getData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        b.putFloat(
            4 * rnd.nextInt(b.capacity() / 4),
            new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}
                [rnd.nextInt(3)]);
        yield with.apply(h.toBuilder().setData(ByteString.copyFrom(b.array())));
      }
      case NO_TENSOR -> good.toBuilder().clearHiddenStates().build();
      case GARBAGE -> throw new IllegalArgumentException("garbage is sent raw");
    };
  }

  static Status call(RouterHarness h, ForwardRequest req) {
    try {
      h.inference().forward(req);
      return Status.OK.withDescription("accepted");
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }

  static byte[] garbage(Random rnd) {
    byte[] b = new byte[1 + rnd.nextInt(256)];
    rnd.nextBytes(b);
    b[0] = (byte) 0xff;
    return b;
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

  static Status callRaw(RouterHarness h, byte[] body) {
    MethodDescriptor<byte[], byte[]> m =
        InferenceGrpc.getForwardMethod().toBuilder(RAW, RAW).build();
    try {
      ClientCalls.blockingUnaryCall(
          h.channel, m, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), body);
      return Status.OK.withDescription("accepted");
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }
}
