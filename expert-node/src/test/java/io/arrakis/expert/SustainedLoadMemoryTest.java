package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.gating.Routing;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A node's resident memory stays flat while it computes 10,000 batches. The node runs in its own
 * JVM with a fixed, pre-touched heap, so whatever its resident memory does after warm-up is native
 * memory (ND4J buffers, Netty, malloc arenas): the place a leak would show.
 */
class SustainedLoadMemoryTest {
  static final int BATCHES = 10_000;
  static final int WARMUP = 2_000;

  @Test
  void residentMemoryIsFlatOver10000Batches(@TempDir Path work) throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    ComputeRequest req;
    try (MoeModel model = MoeModel.open(dir);
        SafetensorsFile in = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
      INDArray x = NdArrays.readFloat(in, "hidden_states");
      Routing routing = model.gate(0).route(x);
      req = Batches.fromRouting("soak", 0, x, routing, 8, e -> true);
    }
    try (NodeProcess node =
        NodeProcess.start(
            work,
            List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch"),
            "--model",
            dir.toString(),
            "--experts",
            "all",
            "--threads",
            "1")) {
      ManagedChannel channel =
          NettyChannelBuilder.forAddress("127.0.0.1", node.port).usePlaintext().build();
      try {
        long rssWarm = 0;
        long start = System.nanoTime();
        for (int i = 1; i <= BATCHES; i++) {
          ExpertGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS).compute(req);
          if (i == WARMUP) {
            rssWarm = node.rssBytes();
          }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        long rssEnd = node.rssBytes();
        long growth = rssEnd - rssWarm;
        System.out.printf(
            "node RSS after %d batches: %.1f MiB, after %d: %.1f MiB (growth %.1f MiB); "
                + "%d batches in %.1f s%n",
            WARMUP,
            rssWarm / 1048576.0,
            BATCHES,
            rssEnd / 1048576.0,
            growth / 1048576.0,
            BATCHES,
            seconds);
        // 8,000 batches of 32 tokens move ~66 MB of activations through the node; a leak of even
        // one
        // temporary array per batch would show as tens of MB here
        assertThat(growth).isLessThan(24L * 1024 * 1024);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
