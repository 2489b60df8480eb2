package io.arrakis.loadtest.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.testing.Forward;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.Tensor;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * Small messages that would unpack into a great deal of memory, sent to a real router process with
 * a small heap: a shape of tens of millions of entries (packed varints: one byte on the wire, eight
 * in memory), the same gzip-compressed (60 KB on the wire), gigantic request ids and hidden states
 * of zeros that compress a thousandfold. Each is refused with RESOURCE_EXHAUSTED or
 * INVALID_ARGUMENT and a short message, the router's resident memory stays bounded, and good calls
 * are answered correctly throughout.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileBombTest {
  /**
   * The router's and nodes' heap: a quarter of what one 64 MiB message of shape entries unpacks to.
   */
  static final List<String> SMALL_HEAP =
      List.of("-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

  static final int ATTACKERS = 8;
  static final int ROUNDS = 3;

  /** What the attacks may add to the router's resident memory, over what it used before them. */
  static final long RSS_GROWTH_BOUND_KIB = 64 * 1024;

  static final int MAX_DESCRIPTION = 1024;
  static final int HIDDEN = 64;

  private LocalCluster cluster;
  private ManagedChannel channel;
  private float[] x;
  private float[] expected;

  @BeforeAll
  void start() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    cluster =
        LocalCluster.start(
            ClusterOptions.of(dir, 2, Path.of("target", "hostile-tests").toAbsolutePath())
                .withJvmOptions(SMALL_HEAP)
                .withComputeThreads(1)
                .withStartTimeout(Duration.ofSeconds(150)));
    channel = Forward.channel(cluster.routerAddress());
    x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    expected = Fixtures.floats(dir.resolve("expected-layer0.safetensors"), "output");
  }

  @AfterAll
  void stop() throws Exception {
    if (channel != null) {
      channel.shutdownNow();
    }
    if (cluster != null) {
      cluster.stop();
    }
  }

  enum Bomb {
    /** 60 M shape entries, sent as they are (60 MB). */
    SHAPE(false),
    /** The same, gzip-compressed. */
    SHAPE_GZIP(true),
    /**
     * 200,000 shape entries: well within any message limit, still 1.6 MB of longs and a huge error
     * message.
     */
    SHAPE_SMALL(false),
    /** A request id of 900 KB, which the answer would echo. */
    REQUEST_ID(false),
    /** Hidden states of 60 MiB of zeros, gzip-compressed to about 60 KB. */
    ZEROS_GZIP(true);

    final boolean gzip;

    Bomb(boolean gzip) {
      this.gzip = gzip;
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void bombsAreRefusedAtBoundedCostAndGoodCallsAreAnsweredThroughout() throws Exception {
    for (int i = 0; i < 20; i++) {
      assertGoodCall("warm-" + i);
    }
    long pid = cluster.routerPid();
    long before = LocalCluster.rssKib(pid);
    AtomicLong peak = new AtomicLong(before);
    AtomicBoolean attacking = new AtomicBoolean(true);
    Thread sampler =
        new Thread(
            () -> {
              while (attacking.get()) {
                peak.accumulateAndGet(LocalCluster.rssKib(pid), Math::max);
                try {
                  Thread.sleep(20);
                } catch (InterruptedException e) {
                  return;
                }
              }
            });
    sampler.start();
    Map<Bomb, byte[]> bombs = new EnumMap<>(Bomb.class);
    for (Bomb b : Bomb.values()) {
      bombs.put(b, build(b));
    }
    Map<String, Integer> answers = new ConcurrentHashMap<>();
    ExecutorService pool = Executors.newFixedThreadPool(ATTACKERS + 1);
    try {
      for (int round = 0; round < ROUNDS; round++) {
        for (Bomb b : Bomb.values()) {
          List<Future<Status>> shots = new ArrayList<>();
          for (int a = 0; a < ATTACKERS; a++) {
            shots.add(pool.submit(() -> send(bombs.get(b), b.gzip)));
          }
          Future<?> good = pool.submit(() -> assertGoodCall("during-" + b));
          for (Future<Status> shot : shots) {
            Status s = shot.get(120, TimeUnit.SECONDS);
            answers.merge(b + " " + s.getCode(), 1, Integer::sum);
            assertThat(s.getCode())
                .as("%s: %s", b, s)
                .isIn(Status.Code.RESOURCE_EXHAUSTED, Status.Code.INVALID_ARGUMENT);
            assertThat(s.getDescription())
                .as("%s: message", b)
                .isNotBlank()
                .hasSizeLessThan(MAX_DESCRIPTION);
          }
          good.get(120, TimeUnit.SECONDS);
        }
      }
    } finally {
      attacking.set(false);
      sampler.join();
      pool.shutdownNow();
      System.out.printf(
          "router RSS before %,d KiB, peak during the bombs %,d KiB (+%,d KiB); answers %s%n",
          before, peak.get(), peak.get() - before, new TreeMap<>(answers));
    }
    assertThat(cluster.anyAlive()).isTrue();
    for (int i = 0; i < 10; i++) {
      assertGoodCall("after-" + i);
    }
    assertThat(peak.get() - before)
        .as("router RSS growth under the bombs (KiB)")
        .isLessThan(RSS_GROWTH_BOUND_KIB);
  }

  private void assertGoodCall(String id) {
    ForwardResponse r = Forward.call(channel, id, 0, x, 32, HIDDEN);
    assertThat(r.getRequestId()).isEqualTo(id);
    assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), expected))
        .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(expected));
  }

  static byte[] build(Bomb b) throws IOException {
    return switch (b) {
      case SHAPE, SHAPE_GZIP -> shapeBomb(60_000_000);
      case SHAPE_SMALL -> shapeBomb(200_000);
      case REQUEST_ID ->
          ForwardRequest.newBuilder()
              .setRequestId("x".repeat(900_000))
              .setLayer(0)
              .setHiddenStates(TensorCodec.encodeFloat(new float[HIDDEN], 1, HIDDEN))
              .build()
              .toByteArray();
      case ZEROS_GZIP -> {
        int tokens = 60 * 1024 * 1024 / (HIDDEN * Float.BYTES);
        yield ForwardRequest.newBuilder()
            .setRequestId("zeros")
            .setLayer(0)
            .setHiddenStates(
                Tensor.newBuilder()
                    .setDtype(DType.FLOAT32)
                    .addShape(tokens)
                    .addShape(HIDDEN)
                    .setData(ByteString.copyFrom(new byte[tokens * HIDDEN * Float.BYTES])))
            .build()
            .toByteArray();
      }
    };
  }

  /** A ForwardRequest whose hidden_states.shape is {@code entries} ones, packed: one byte each. */
  static byte[] shapeBomb(int entries) throws IOException {
    ByteArrayOutputStream tensor = new ByteArrayOutputStream(entries + 16);
    CodedOutputStream t = CodedOutputStream.newInstance(tensor);
    t.writeEnum(Tensor.DTYPE_FIELD_NUMBER, DType.FLOAT32_VALUE);
    t.writeTag(Tensor.SHAPE_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
    t.writeUInt32NoTag(entries);
    byte[] ones = new byte[entries];
    Arrays.fill(ones, (byte) 1);
    t.writeRawBytes(ones);
    t.flush();
    ByteArrayOutputStream request = new ByteArrayOutputStream(entries + 64);
    CodedOutputStream r = CodedOutputStream.newInstance(request);
    r.writeString(ForwardRequest.REQUEST_ID_FIELD_NUMBER, "shape-bomb");
    r.writeUInt32(ForwardRequest.LAYER_FIELD_NUMBER, 0);
    r.writeByteArray(ForwardRequest.HIDDEN_STATES_FIELD_NUMBER, tensor.toByteArray());
    r.flush();
    return request.toByteArray();
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

  private Status send(byte[] body, boolean gzip) {
    MethodDescriptor<byte[], byte[]> m =
        InferenceGrpc.getForwardMethod().toBuilder(RAW, RAW).build();
    CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS);
    try {
      ClientCalls.blockingUnaryCall(
          channel, m, gzip ? options.withCompression("gzip") : options, body);
      return Status.OK.withDescription("accepted");
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }
}
