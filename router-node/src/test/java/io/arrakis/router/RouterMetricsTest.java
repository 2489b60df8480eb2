package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.telemetry.MetricsServer;
import io.grpc.StatusRuntimeException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The router's Prometheus metrics, scraped over HTTP, count what it did. */
class RouterMetricsTest {
  @Test
  void scrapeShowsTokensPerExpertAndNodeBatchesLatencyQueuesAndErrors() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    PrometheusMeterRegistry registry = MetricsServer.newRegistry();
    try (RouterHarness h = new RouterHarness(Fixtures.MIXTRAL_TINY, RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 2, 1),
        RouterHarness.settings(), RouterHarness.loopback(), registry);
        MetricsServer server = MetricsServer.start(registry, "127.0.0.1", 0)) {
      float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
      for (int i = 0; i < 3; i++) {
        h.inference().forward(ForwardRequest.newBuilder().setRequestId("m" + i).setLayer(0)
            .setHiddenStates(TensorCodec.encodeFloat(x, 32, 64)).build());
      }
      try {
        h.inference().forward(ForwardRequest.newBuilder().setLayer(9).setHiddenStates(TensorCodec.encodeFloat(x, 32, 64)).build());
      } catch (StatusRuntimeException expected) {
        // counted below
      }
      String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();

      assertThat(sum(text, "arrakis_router_expert_tokens_total\\{[^}]*layer=\"0\"[^}]*\\}")).isEqualTo(3 * 32 * 2);
      assertThat(sum(text, "arrakis_router_node_tokens_total\\{[^}]*\\}")).isEqualTo(3 * 32 * 2);
      assertThat(sum(text, "arrakis_router_node_batches_total\\{[^}]*\\}")).isGreaterThanOrEqualTo(3);
      assertThat(sum(text, "arrakis_router_request_latency_seconds_count")).isEqualTo(3);
      assertThat(sum(text, "arrakis_router_errors_total\\{status=\"INVALID_ARGUMENT\"\\}")).isEqualTo(1);
      assertThat(text).contains("arrakis_router_node_queue_depth{node=\"expert-0\"}")
          .contains("arrakis_router_node_batch_tokens_bucket").contains("arrakis_router_node_call_latency_seconds_bucket");
    }
  }

  static double sum(String text, String series) {
    Matcher m = Pattern.compile("(?m)^" + series + " ([0-9.eE+-]+)$").matcher(text);
    double total = 0;
    while (m.find()) {
      total += Double.parseDouble(m.group(1));
    }
    return total;
  }
}
