package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.arrakis.expert.store.ExpertSpec;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.telemetry.MetricsServer;
import io.arrakis.telemetry.testing.Scrape;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The node's meters, read the way Prometheus reads them: over HTTP from a real metrics server. */
class ExpertNodeMetricsTest {
  static final String NODE = "expert-test";

  @Test
  void scrapeCountsTokensPerExpertBatchesAndErrors() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    PrometheusMeterRegistry registry = MetricsServer.newRegistry();
    ExpertNodeSettings settings = ExpertNodeHarness.defaults().withComputeThreads(2);
    try (ExpertNodeHarness node = new ExpertNodeHarness(dir, List.of(), settings, registry);
        MetricsServer metrics = MetricsServer.start(registry, "127.0.0.1", 0)) {
      node.server.store().load(ExpertSpec.parse("1:*,0:0-3", node.model.moeLayers(), 8));
      INDArray x;
      try (SafetensorsFile in = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
        x = NdArrays.readFloat(in, "hidden_states");
      }
      Routing r1 = node.model.gate(1).route(x);
      Routing r0 = node.model.gate(0).route(x);
      List<ComputeRequest> sent = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        sent.add(Batches.fromRouting("low-" + i, 1, x, r1, 8, e -> e < 4));
      }
      sent.add(Batches.fromRouting("high", 1, x, r1, 8, e -> e >= 4));
      sent.add(Batches.fromRouting("layer0", 0, x, r0, 8, e -> e < 4));
      Map<ExpertId, Integer> expected = new TreeMap<>();
      long tokens = 0;
      for (ComputeRequest req : sent) {
        node.stub().compute(req);
        tokens += req.getHiddenStates().getShape(0);
        for (Assignment a : req.getAssignmentsList()) {
          expected.merge(new ExpertId(a.getLayer(), a.getExpert()), a.getRowsCount(), Integer::sum);
        }
      }
      // two client mistakes (one per method) and one batch past the size limit
      ComputeRequest notHeld =
          sent.get(0).toBuilder()
              .setAssignments(0, sent.get(0).getAssignments(0).toBuilder().setLayer(0).setExpert(7))
              .build();
      assertCode(() -> node.stub().compute(notHeld), Status.Code.INVALID_ARGUMENT);
      assertCode(
          () ->
              node.stub()
                  .loadExperts(
                      LoadExpertsRequest.newBuilder()
                          .addExperts(new ExpertId(5, 0).toProto())
                          .build()),
          Status.Code.INVALID_ARGUMENT);
      int tooMany = settings.maxBatchTokens() + 1;
      ComputeRequest big =
          sent.get(0).toBuilder()
              .setHiddenStates(
                  Tensor.newBuilder()
                      .setDtype(DType.FLOAT32)
                      .addShape(tooMany)
                      .addShape(64)
                      .setData(ByteString.copyFrom(new byte[tooMany * 64 * 4])))
              .build();
      assertCode(() -> node.stub().compute(big), Status.Code.RESOURCE_EXHAUSTED);

      Scrape scrape = Scrape.of("127.0.0.1", metrics.port());

      assertThat(expected).hasSize(12);
      for (var e : expected.entrySet()) {
        assertThat(
                scrape.value(
                    "arrakis_expert_expert_tokens_total",
                    "node",
                    NODE,
                    "layer",
                    Integer.toString(e.getKey().layer()),
                    "expert",
                    Integer.toString(e.getKey().expert())))
            .as("tokens of expert %s", e.getKey())
            .hasValue(e.getValue());
      }
      assertThat(scrape.find("arrakis_expert_expert_tokens_total"))
          .as("only experts that computed have series")
          .hasSize(expected.size());
      int batches = sent.size();
      assertThat(scrape.value("arrakis_expert_batches_total", "node", NODE)).hasValue(batches);
      assertThat(scrape.value("arrakis_expert_tokens_total", "node", NODE)).hasValue(tokens);
      assertThat(scrape.value("arrakis_expert_batch_size_tokens_count", "node", NODE))
          .hasValue(batches);
      assertThat(scrape.value("arrakis_expert_batch_size_tokens_sum", "node", NODE))
          .hasValue(tokens);
      assertThat(
              scrape.value("arrakis_expert_batch_size_tokens_bucket", "node", NODE, "le", "16.0"))
          .hasValue(0);
      assertThat(
              scrape.value("arrakis_expert_batch_size_tokens_bucket", "node", NODE, "le", "32.0"))
          .hasValue(batches);
      assertThat(scrape.value("arrakis_expert_compute_seconds_count", "node", NODE))
          .hasValue(batches);
      assertThat(scrape.find("arrakis_expert_compute_seconds_bucket", "node", NODE))
          .hasSizeGreaterThan(10);
      assertThat(scrape.value("arrakis_expert_queue_wait_seconds_count", "node", NODE))
          .hasValue(batches);
      assertThat(
              scrape.value(
                  "arrakis_expert_errors_total", "node", NODE, "status", "INVALID_ARGUMENT"))
          .hasValue(2);
      assertThat(
              scrape.value(
                  "arrakis_expert_errors_total", "node", NODE, "status", "RESOURCE_EXHAUSTED"))
          .hasValue(1);
      assertThat(scrape.value("arrakis_expert_errors_total", "node", NODE, "status", "INTERNAL"))
          .hasValue(0);
      assertThat(scrape.value("arrakis_expert_batches_abandoned_total", "node", NODE)).hasValue(0);
      assertThat(scrape.value("arrakis_expert_queue_depth", "node", NODE)).hasValue(0);
      assertThat(scrape.value("arrakis_expert_queue_capacity", "node", NODE))
          .hasValue(settings.queueCapacity());
      assertThat(scrape.value("arrakis_expert_compute_threads", "node", NODE)).hasValue(2);
      assertThat(scrape.value("arrakis_expert_compute_threads_active", "node", NODE)).isPresent();
      assertThat(scrape.find("jvm_memory_used_bytes")).isNotEmpty();
    }
  }

  private static void assertCode(Runnable call, Status.Code code) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode()).isEqualTo(code));
  }
}
