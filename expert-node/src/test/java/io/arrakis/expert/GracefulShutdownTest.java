package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import io.arrakis.expert.store.ExpertSpec;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.time.Duration;
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
    ExpertNodeSettings settings =
        ExpertNodeHarness.defaults().withComputeThreads(1).withQueueCapacity(16);
    ExpertNodeHarness node =
        new ExpertNodeHarness(Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(), settings);
    node.server.store().load(ExpertSpec.parse("all", node.model.moeLayers(), 8));
    Nd4j.getRandom().setSeed(7);
    INDArray x = Nd4j.randn(DataType.FLOAT, 8192, 64);
    Routing routing = node.model.gate(0).route(x);
    ComputeRequest req = Batches.fromRouting("drain", 0, x, routing, 8, e -> true);
    ExpertGrpc.ExpertFutureStub stub =
        ExpertGrpc.newFutureStub(node.channel).withDeadlineAfter(60, TimeUnit.SECONDS);

    List<ListenableFuture<ComputeResponse>> calls = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      calls.add(stub.compute(req));
    }
    // let the node take them, then shut down while they compute
    Thread.sleep(100);
    assertThat(calls).as("work still in flight when shutdown starts").anyMatch(c -> !c.isDone());
    Thread stopper =
        new Thread(
            () -> {
              try {
                node.server.shutdown();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    stopper.start();
    Thread.sleep(50);
    assertThat(
            HealthGrpc.newBlockingStub(node.channel)
                .withDeadlineAfter(5, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus())
        .isEqualTo(ServingStatus.NOT_SERVING);

    for (var call : calls) {
      assertThat(call.get(60, TimeUnit.SECONDS).getPartialSums().getShapeList())
          .containsExactly(8192L, 64L);
    }
    stopper.join(30_000);
    node.channel.shutdownNow();
    node.model.close();
  }

  @Test
  void aLeavingNodeServesUntilItsExpertsAreUnloaded() throws Exception {
    ExpertNodeSettings settings =
        ExpertNodeHarness.defaults().withLeaveTimeout(Duration.ofSeconds(30));
    ExpertNodeHarness node =
        new ExpertNodeHarness(Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(), settings);
    node.server.store().load(ExpertSpec.parse("0:0-3", node.model.moeLayers(), 8));
    Thread stopper =
        new Thread(
            () -> {
              try {
                node.server.shutdown();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    stopper.start();
    var health = HealthGrpc.newBlockingStub(node.channel);
    var expert = ExpertGrpc.newBlockingStub(node.channel);
    // still placed: the node keeps serving, computes and says SERVING
    Thread.sleep(500);
    assertThat(stopper.isAlive()).isTrue();
    assertThat(
            health
                .withDeadlineAfter(5, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus())
        .isEqualTo(ServingStatus.SERVING);
    Nd4j.getRandom().setSeed(3);
    INDArray x = Nd4j.randn(DataType.FLOAT, 4, 64);
    ComputeRequest req =
        Batches.fromRouting("leaving", 0, x, node.model.gate(0).route(x), 8, e -> e < 4);
    assertThat(
            expert
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .compute(req)
                .getPartialSums()
                .getShapeList())
        .containsExactly(4L, 64L);

    // the routers' rollout unloads half: still serving; the rest: the node drains and stops
    expert
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .unloadExperts(
            UnloadExpertsRequest.newBuilder()
                .addExperts(new ExpertId(0, 0).toProto())
                .addExperts(new ExpertId(0, 1).toProto())
                .build());
    Thread.sleep(300);
    assertThat(stopper.isAlive()).isTrue();
    expert
        .withDeadlineAfter(5, TimeUnit.SECONDS)
        .unloadExperts(
            UnloadExpertsRequest.newBuilder()
                .addExperts(new ExpertId(0, 2).toProto())
                .addExperts(new ExpertId(0, 3).toProto())
                .build());
    ServingStatus status = ServingStatus.SERVING;
    for (int i = 0; i < 50 && status == ServingStatus.SERVING; i++) { // the node looks every 100 ms
      Thread.sleep(20);
      status =
          health
              .withDeadlineAfter(5, TimeUnit.SECONDS)
              .check(HealthCheckRequest.getDefaultInstance())
              .getStatus();
    }
    assertThat(status).as("draining once nothing is held").isEqualTo(ServingStatus.NOT_SERVING);
    stopper.join(30_000);
    assertThat(stopper.isAlive()).isFalse();
    node.channel.shutdownNow();
    node.model.close();
  }
}
