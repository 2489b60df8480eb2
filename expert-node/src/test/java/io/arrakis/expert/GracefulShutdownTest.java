package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.gating.Routing;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.ExpertGrpc;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Shutdown lets in-flight batches finish and answers them. */
class GracefulShutdownTest {

  @Test
  void inFlightBatchesFinishOnShutdown() throws Exception {
    ExpertNodeSettings settings = ExpertNodeHarness.defaults().withComputeThreads(1).withQueueCapacity(16);
    ExpertNodeHarness node = new ExpertNodeHarness(Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(), settings);
    node.server.store().load(io.arrakis.expert.store.ExpertSpec.parse("all", node.model.moeLayers(), 8));
    Nd4j.getRandom().setSeed(7);
    INDArray x = Nd4j.randn(DataType.FLOAT, 8192, 64);
    Routing routing = node.model.gate(0).route(x);
    ComputeRequest req = Batches.fromRouting("drain", 0, x, routing, 8, e -> true);
    ExpertGrpc.ExpertFutureStub stub = ExpertGrpc.newFutureStub(node.channel).withDeadlineAfter(60, TimeUnit.SECONDS);

    List<com.google.common.util.concurrent.ListenableFuture<ComputeResponse>> calls = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      calls.add(stub.compute(req));
    }
    // let the node take them, then shut down while they compute
    Thread.sleep(100);
    assertThat(calls).as("work still in flight when shutdown starts").anyMatch(c -> !c.isDone());
    Thread stopper = new Thread(() -> {
      try {
        node.server.shutdown();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    stopper.start();
    Thread.sleep(50);
    assertThat(HealthGrpc.newBlockingStub(node.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.NOT_SERVING);

    for (var call : calls) {
      assertThat(call.get(60, TimeUnit.SECONDS).getPartialSums().getShapeList()).containsExactly(8192L, 64L);
    }
    stopper.join(30_000);
    node.channel.shutdownNow();
    node.model.close();
  }
}
