package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.loadtest.testing.TestClusters;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench serve} end to end on a reference model: the in-process side, the cluster at two
 * concurrencies with TTFT and TPOT percentiles, their ratio, and ping-pong (1 and 2 micro-batches,
 * router and expert nodes pinned) with the router's busy-time counters read from its /metrics;
 * every stream answered, the scratch cluster stopped. The figures are the benchmark's business.
 */
class BenchServeCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @Test
  @Timeout(value = 400, unit = TimeUnit.SECONDS)
  void measuresInProcessClusterAndPingPongInOneRun() throws Exception {
    Path json = tmp.resolve("serve.json");
    Path state = tmp.resolve("state");

    CliRun run =
        CliRun.of(
            "bench",
            "serve",
            "--model",
            ReferenceModels.dir("qwen3_moe").toString(),
            "--nodes",
            "2",
            "--concurrency",
            "1,4",
            "--prompt-tokens",
            "8",
            "--output-tokens",
            "6",
            "--decode-output-tokens",
            "8",
            "--warmup",
            "1s",
            "--duration",
            "3s",
            "--threads",
            "1",
            "--java-opts",
            String.join(" ", TestClusters.JVM_OPTIONS),
            "--state-dir",
            state.toString(),
            "--json",
            json.toString());

    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out())
        .containsPattern("ratio +cluster / in-process at concurrency 4: \\d+\\.\\d\\d")
        .contains("load average");
    JsonNode r = JSON.readTree(json.toFile());
    double local = r.path("in_process").path("output_tokens_per_s").asDouble();
    assertThat(local).isPositive();
    assertThat(r.path("cluster")).hasSize(2);
    for (JsonNode level : r.path("cluster")) {
      assertThat(level.path("output_tokens_per_s").asDouble()).as("%s", level).isPositive();
      assertThat(level.path("requests").asLong()).as("%s", level).isPositive();
      assertThat(level.path("failed").asLong()).isZero();
      assertThat(level.path("ttft_ms").path("p99").asDouble())
          .isGreaterThanOrEqualTo(level.path("ttft_ms").path("p50").asDouble())
          .isPositive();
      assertThat(level.path("tpot_ms").path("p50").asDouble()).isPositive();
    }
    double cluster = r.path("cluster").get(1).path("output_tokens_per_s").asDouble();
    assertThat(r.path("cluster_over_in_process").asDouble())
        .isCloseTo(cluster / local, within(0.0005 + 0.01 * cluster / local));
    JsonNode pp = r.path("ping_pong");
    for (String side : new String[] {"1_micro_batch", "2_micro_batches"}) {
      JsonNode m = pp.path(side);
      assertThat(m.path("output_tokens_per_s").asDouble()).as("%s", pp).isPositive();
      assertThat(m.path("failed").asLong()).isZero();
      assertThat(m.path("router_busy").asDouble())
          .as("%s", m)
          .isPositive()
          .isLessThanOrEqualTo(1.001);
      assertThat(m.path("experts_busy").asDouble())
          .as("%s", m)
          .isPositive()
          .isLessThanOrEqualTo(1.001);
      assertThat(m.path("overlap").asDouble()).isBetween(0.0, 1.0);
      // the pace of the window's tokens, measured even where no request ends in the window
      assertThat(m.path("window_itl_p50_ms").asDouble()).as("%s", m).isPositive();
    }
    // with two lanes the router computes one's layers while the other's are on the expert nodes
    assertThat(pp.path("2_micro_batches").path("overlap").asDouble()).isPositive();
    assertThat(pp.path("ratio").asDouble()).isPositive();

    JsonNode status =
        JSON.readTree(CliRun.of("status", "--json", "--state-dir", state.toString()).out());
    assertThat(status.path("running").asBoolean())
        .as("the scratch cluster is stopped: %s", status)
        .isFalse();
  }
}
