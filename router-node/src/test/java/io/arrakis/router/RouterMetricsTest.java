package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.router.stats.CallLatency;
import io.arrakis.telemetry.MetricsServer;
import io.arrakis.telemetry.testing.Scrape;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The router's Prometheus metrics, scraped over HTTP, count what it did. */
class RouterMetricsTest {
  @Test
  void scrapeShowsTokensPerExpertAndNodeBatchesLatencyQueuesAndErrors() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    PrometheusMeterRegistry registry = MetricsServer.newRegistry();
    try (RouterHarness h =
            new RouterHarness(
                Fixtures.MIXTRAL_TINY,
                RouterHarness.placement(Fixtures.MIXTRAL_TINY, "round-robin", 2, 1),
                RouterHarness.settings(),
                RouterHarness.loopback(),
                registry);
        MetricsServer server = MetricsServer.start(registry, "127.0.0.1", 0)) {
      float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
      for (int i = 0; i < 3; i++) {
        h.inference()
            .forward(
                ForwardRequest.newBuilder()
                    .setRequestId("m" + i)
                    .setLayer(0)
                    .setHiddenStates(TensorCodec.encodeFloat(x, 32, 64))
                    .build());
      }
      try {
        h.inference()
            .forward(
                ForwardRequest.newBuilder()
                    .setLayer(9)
                    .setHiddenStates(TensorCodec.encodeFloat(x, 32, 64))
                    .build());
      } catch (StatusRuntimeException expected) {
        // counted below
      }
      String text =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                      .timeout(Duration.ofSeconds(5))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();

      assertThat(sum(text, "arrakis_router_expert_tokens_total\\{[^}]*layer=\"0\"[^}]*\\}"))
          .isEqualTo(3 * 32 * 2);
      assertThat(sum(text, "arrakis_router_node_tokens_total\\{[^}]*\\}")).isEqualTo(3 * 32 * 2);
      assertThat(sum(text, "arrakis_router_node_batches_total\\{[^}]*\\}"))
          .isGreaterThanOrEqualTo(3);
      assertThat(sum(text, "arrakis_router_request_latency_seconds_count")).isEqualTo(3);
      assertThat(sum(text, "arrakis_router_errors_total\\{status=\"INVALID_ARGUMENT\"\\}"))
          .isEqualTo(1);
      assertThat(text)
          .contains("arrakis_router_node_queue_depth{node=\"expert-0\"}")
          .contains("arrakis_router_node_batch_tokens_bucket")
          .contains("arrakis_router_node_call_latency_seconds_bucket");
    }
  }

  @Test
  void everyForwardIsTimedAtTheRouterByStatusARefusalWithinWhatTheClientSaw() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    PrometheusMeterRegistry registry = MetricsServer.newRegistry();
    RouterSettings settings =
        RouterHarness.settings().withAdmission(TokenLimiter.Settings.fixed(40));
    try (RouterHarness h =
            new RouterHarness(
                Fixtures.MIXTRAL_TINY,
                RouterHarness.placement(Fixtures.MIXTRAL_TINY, "contiguous", 1, 1),
                settings,
                RouterHarness.loopback(),
                registry);
        MetricsServer server = MetricsServer.start(registry, "127.0.0.1", 0)) {
      float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
      ForwardRequest request =
          ForwardRequest.newBuilder()
              .setLayer(0)
              .setHiddenStates(TensorCodec.encodeFloat(x, 32, 64))
              .build();
      CountDownLatch busy = new CountDownLatch(1);
      h.experts.get("expert-0").hold = busy;
      var admitted =
          InferenceGrpc.newFutureStub(h.channel)
              .withDeadlineAfter(30, TimeUnit.SECONDS)
              .forward(request);
      awaitInFlight(h);
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> h.inference().forward(request))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
      double clientSeconds = (System.nanoTime() - t0) / 1e9;
      busy.countDown();
      admitted.get(30, TimeUnit.SECONDS);

      Scrape.Histogram refused = awaitCount(server, "RESOURCE_EXHAUSTED");
      Scrape.Histogram ok = awaitCount(server, "OK");
      Scrape scrape = Scrape.of("127.0.0.1", server.port());
      double refusedSeconds =
          scrape
              .value(
                  CallLatency.METER + "_seconds_sum",
                  "method",
                  FORWARD,
                  "status",
                  "RESOURCE_EXHAUSTED")
              .orElseThrow();
      assertThat(refused.count()).isEqualTo(1);
      assertThat(refusedSeconds)
          .as("router's time of the refusal (s)")
          .isPositive()
          .isLessThanOrEqualTo(clientSeconds);
      assertThat(ok.count()).isEqualTo(1);
      assertThat(
              scrape
                  .value(CallLatency.METER + "_seconds_sum", "method", FORWARD, "status", "OK")
                  .orElseThrow())
          .as("router's time of the held call (s)")
          .isGreaterThan(refusedSeconds);
    }
  }

  private static final String FORWARD = "arrakis.v1.Inference/Forward";

  /**
   * Waits until the router has the held call's tokens in flight (its experts are reached through
   * the actors).
   */
  private static void awaitInFlight(RouterHarness h) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (h.experts.get("expert-0").calls.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(h.experts.get("expert-0").calls)
        .as("Compute calls of the held Forward")
        .isNotEmpty();
  }

  /**
   * The Forward histogram of {@code status} once it counts a call (the router records as the stream
   * closes).
   */
  private static Scrape.Histogram awaitCount(MetricsServer server, String status) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    Scrape.Histogram h;
    do {
      h =
          Scrape.of("127.0.0.1", server.port())
              .histogram(CallLatency.METER + "_seconds", "method", FORWARD, "status", status);
      if (h.count() > 0) {
        return h;
      }
      Thread.sleep(10);
    } while (System.nanoTime() < deadline);
    return h;
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
