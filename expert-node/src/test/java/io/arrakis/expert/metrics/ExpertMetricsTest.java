package io.arrakis.expert.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.expert.compute.ComputeExecutor;
import io.arrakis.expert.compute.PreparedBatch;
import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.Tensor;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ExpertMetricsTest {

  /** Two experts, the first with 3 rows and the second with 1, in a batch of 4 tokens. */
  static PreparedBatch batch() {
    // the kernels are never run here; metrics read only the rows
    return new PreparedBatch(
        "b",
        Tensor.getDefaultInstance(),
        4,
        List.of(
            new BackendWork(null, new int[] {0, 1, 2}, new float[3]),
            new BackendWork(null, new int[] {3}, new float[1])),
        List.of(new ExpertId(1, 7), new ExpertId(0, 2)));
  }

  @Test
  void countsTokensPerExpertAndRegistersEachCounterOnce() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (ComputeExecutor executor = new ComputeExecutor(1, 4)) {
      ExpertMetrics metrics = new ExpertMetrics(registry, "n0", 2, 8, 64, executor);
      metrics.computed(batch(), 1_000_000);
      int meters = registry.getMeters().size();
      Counter first = expertTokens(registry, 1, 7);

      metrics.computed(batch(), 3_000_000);

      assertThat(registry.getMeters()).hasSize(meters);
      assertThat(expertTokens(registry, 1, 7)).isSameAs(first);
      assertThat(first.count()).isEqualTo(6);
      assertThat(expertTokens(registry, 0, 2).count()).isEqualTo(2);
      assertThat(registry.find(ExpertMetrics.EXPERT_TOKENS).counters()).hasSize(2);
      assertThat(registry.get(ExpertMetrics.TOKENS).tag("node", "n0").counter().count())
          .isEqualTo(8);
      assertThat(registry.get(ExpertMetrics.BATCHES).counter().count()).isEqualTo(2);
      assertThat(registry.get(ExpertMetrics.BATCH_SIZE).summary().totalAmount()).isEqualTo(8);
      assertThat(registry.get(ExpertMetrics.COMPUTE).timer().totalTime(TimeUnit.MILLISECONDS))
          .isEqualTo(4.0);
    }
  }

  @Test
  void errorsAreCountedByCodeWithTheNodesOwnCodesStartingAtZero() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (ComputeExecutor executor = new ComputeExecutor(1, 4)) {
      ExpertMetrics metrics = new ExpertMetrics(registry, "n0", 2, 8, 64, executor);
      assertThat(registry.find(ExpertMetrics.ERRORS).counters())
          .hasSize(3)
          .allSatisfy(c -> assertThat(c.count()).isZero());

      metrics.error(Status.Code.INVALID_ARGUMENT);
      metrics.error(Status.Code.INVALID_ARGUMENT);
      metrics.error(Status.Code.UNKNOWN);

      assertThat(
              registry
                  .get(ExpertMetrics.ERRORS)
                  .tag("status", "INVALID_ARGUMENT")
                  .counter()
                  .count())
          .isEqualTo(2);
      assertThat(registry.get(ExpertMetrics.ERRORS).tag("status", "UNKNOWN").counter().count())
          .isEqualTo(1);
    }
  }

  @Test
  void batchSizeBucketsArePowersOfTwoUpToTheBatchLimit() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (ComputeExecutor executor = new ComputeExecutor(1, 4)) {
      new ExpertMetrics(registry, "n0", 2, 8, 100, executor).computed(batch(), 1);
      var buckets =
          registry.get(ExpertMetrics.BATCH_SIZE).summary().takeSnapshot().histogramCounts();
      assertThat(buckets)
          .extracting(b -> b.bucket())
          .containsExactly(1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0);
    }
  }

  @Test
  void gaugesFollowTheExecutor() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (ComputeExecutor executor = new ComputeExecutor(3, 5)) {
      new ExpertMetrics(registry, "n0", 2, 8, 64, executor);
      assertThat(registry.get(ExpertMetrics.COMPUTE_THREADS).gauge().value()).isEqualTo(3);
      assertThat(registry.get(ExpertMetrics.QUEUE_CAPACITY).gauge().value()).isEqualTo(5);
      assertThat(registry.get(ExpertMetrics.QUEUE_DEPTH).gauge().value()).isZero();
      assertThat(registry.get(ExpertMetrics.COMPUTE_ACTIVE).gauge().value()).isZero();
    }
  }

  @Test
  void offRecordsNothing() throws Exception {
    try (ComputeExecutor executor = new ComputeExecutor(1, 4)) {
      var off = ExpertMetrics.off();
      ExpertMetrics metrics = new ExpertMetrics(off, "n0", 2, 8, 64, executor);
      metrics.computed(batch(), 1);
      metrics.error(Status.Code.INTERNAL);
      metrics.dequeued(1);
      metrics.abandoned();
      assertThat(off.get(ExpertMetrics.BATCHES).counter().count()).isZero();
      assertThat(off.get(ExpertMetrics.ERRORS).tag("status", "INTERNAL").counter().count())
          .isZero();
    }
  }

  private static Counter expertTokens(SimpleMeterRegistry registry, int layer, int expert) {
    return registry
        .get(ExpertMetrics.EXPERT_TOKENS)
        .tag("node", "n0")
        .tag("layer", Integer.toString(layer))
        .tag("expert", Integer.toString(expert))
        .counter();
  }
}
