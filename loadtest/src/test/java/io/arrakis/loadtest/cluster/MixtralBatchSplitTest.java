package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.expert.ExpertNodeServer;
import io.arrakis.expert.ExpertNodeSettings;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.synthetic.GeneratorOptions;
import io.arrakis.model.synthetic.SyntheticModelGenerator;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.ExpertChannels;
import io.arrakis.router.RouterServer;
import io.arrakis.router.RouterSettings;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A router batch at Mixtral's hidden size (4,096) over a real expert node on loopback gRPC whose
 * inbound limit is 64 MiB: a full batch of float32 rows (4,096 tokens, 64 MiB of rows plus their
 * assignments) is more than the node accepts, so the router splits it to what the node said it
 * takes; bf16 rows of a bf16 model stay bf16 on the wire, and the same batch then fits in one call.
 */
class MixtralBatchSplitTest {
  static final int HIDDEN = 4096;
  static final long NODE_LIMIT = 64L << 20;
  static final int TOKENS = 4096;

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void aFullFloat32BatchIsSplitToTheNodesLimitAndAnsweredCorrectly() throws Exception {
    try (Cluster c = new Cluster(false)) {
      float[] x = random(TOKENS * HIDDEN, 1);
      ForwardResponse r = c.forward(TensorCodec.encodeFloat(x, TOKENS, HIDDEN));
      float[] want = c.reference(x);
      assertThat(Fixtures.maxAbsDiff(TensorCodec.floats(r.getOutput()), want))
          .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(want));
      DistributionSummary batches = c.batchTokens();
      assertThat(batches.count()).as("Compute calls for one full batch").isGreaterThanOrEqualTo(2);
      assertThat((long) batches.max() * HIDDEN * Float.BYTES)
          .as("largest call's rows (bytes)")
          .isLessThan(NODE_LIMIT);
      assertThat((long) batches.totalAmount()).isEqualTo(TOKENS);
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void bf16RowsOfABf16ModelStayBf16AndTheFullBatchGoesInOneCall() throws Exception {
    try (Cluster c = new Cluster(true)) {
      float[] x = random(TOKENS * HIDDEN, 2);
      ByteBuffer b = ByteBuffer.allocate(x.length * 2).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < x.length; i++) {
        short s = Bf16.fromFloat(x[i]);
        b.putShort(s);
        x[i] = Bf16.toFloat(s);
      }
      ForwardResponse r =
          c.forward(
              Tensor.newBuilder()
                  .setDtype(DType.BFLOAT16)
                  .addShape(TOKENS)
                  .addShape(HIDDEN)
                  .setData(ByteString.copyFrom(b.array()))
                  .build());
      float[] want = c.reference(x);
      // the node's partial sums come back rounded to bf16 (one node: one rounding per element, 2^-9
      // relative)
      float[] got = TensorCodec.floats(r.getOutput());
      float slack = 1e-4f * Fixtures.maxAbs(want);
      for (int i = 0; i < want.length; i++) {
        assertThat(Math.abs(got[i] - want[i]))
            .as("element %d", i)
            .isLessThanOrEqualTo(Math.abs(want[i]) * 0x1p-8f + slack);
      }
      assertThat(c.batchTokens().count())
          .as("Compute calls: 4,096 bf16 rows are 32 MiB")
          .isEqualTo(1);
    }
  }

  static float[] random(int n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return x;
  }

  /** A synthetic Mixtral-width model, one expert node holding all of it, a router over it. */
  static final class Cluster implements AutoCloseable {
    final Path dir;
    final MoeModel model;
    final ExpertNodeServer node;
    final ExpertChannels channels;
    final RouterServer router;
    final ManagedChannel client;
    final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    Cluster(boolean bf16) throws Exception {
      dir = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "mixtral-width");
      SyntheticModelGenerator.generate(
          dir, new GeneratorOptions(1, 4, HIDDEN, 32, 2, true, bf16, 0.0, 5));
      model = MoeModel.open(dir);
      Config config =
          ConfigFactory.parseString("arrakis.expert.max-message-bytes = " + NODE_LIMIT)
              .withFallback(ConfigFactory.load());
      ExpertNodeSettings settings =
          ExpertNodeSettings.from(config)
              .withNodeId("expert-0")
              .withPort(0)
              .withComputeThreads(1)
              .withDrainDelay(Duration.ZERO);
      ExpertStore store = new ExpertStore(model);
      List<ExpertId> all = new ArrayList<>();
      for (int e = 0; e < 4; e++) {
        all.add(new ExpertId(0, e));
      }
      store.load(all);
      node =
          new ExpertNodeServer(
                  NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
                  settings,
                  store)
              .start();
      node.markServing();
      Placement p =
          new Placement(
              1, List.of(new Placement.Node("expert-0", "127.0.0.1:" + node.port(), all)));
      // a 64 MiB call computed on one thread of a busy 2-core machine takes longer than the default
      // 5 s
      RouterSettings rs =
          RouterSettings.from(
                  ConfigFactory.parseString("arrakis.router.node-call-timeout = 60s")
                      .withFallback(ConfigFactory.load()))
              .withPort(0)
              .withDrainDelay(Duration.ZERO);
      channels = new ExpertChannels(rs.maxAnswerBytes(HIDDEN), null);
      router =
          new RouterServer(
                  NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)),
                  rs,
                  ConfigFactory.load(),
                  model,
                  p,
                  channels::client,
                  registry)
              .start();
      client =
          NettyChannelBuilder.forAddress("127.0.0.1", router.port())
              .usePlaintext()
              .maxInboundMessageSize(Integer.MAX_VALUE)
              .build();
    }

    ForwardResponse forward(Tensor hidden) {
      return InferenceGrpc.newBlockingStub(client)
          .withDeadlineAfter(120, TimeUnit.SECONDS)
          .forward(
              ForwardRequest.newBuilder()
                  .setRequestId("mixtral")
                  .setLayer(0)
                  .setHiddenStates(hidden)
                  .build());
    }

    float[] reference(float[] x) throws Exception {
      return ReferenceMoe.load(model, 0)
          .forward(Nd4j.create(x, new long[] {TOKENS, HIDDEN}, 'c'))
          .output()
          .data()
          .asFloat();
    }

    DistributionSummary batchTokens() {
      return registry.find("arrakis_router_node_batch_tokens").tag("node", "expert-0").summary();
    }

    @Override
    public void close() throws Exception {
      client.shutdownNow();
      router.shutdown();
      channels.close();
      node.shutdown();
      model.close();
      try (var files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }
}
