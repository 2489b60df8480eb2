package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.loadtest.testing.TestClusters;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench cluster} end to end on a small shape: both sides measured, every cluster call
 * answered, the latency phases and the memory series recorded, the cluster stopped. (The figures
 * themselves are the benchmark's business, not this test's.)
 */
class BenchClusterCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void measuresInProcessAndClusterInOneRun() throws Exception {
    Path json = tmp.resolve("bench.json");
    Path state = tmp.resolve("state");

    CliRun run =
        CliRun.of(
            "bench",
            "cluster",
            "--nodes",
            "2",
            "--hidden",
            "64",
            "--ffn",
            "128",
            "--experts",
            "4",
            "--top-k",
            "2",
            "--tokens",
            "16",
            "--duration",
            "3s",
            "--warmup",
            "1s",
            "--latency-duration",
            "3s",
            "--threads",
            "1",
            "--java-opts",
            String.join(" ", TestClusters.JVM_OPTIONS),
            "--state-dir",
            state.toString(),
            "--models-dir",
            tmp.resolve("models").toString(),
            "--json",
            json.toString());

    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out())
        .containsPattern("ratio +\\d+\\.\\d{3} \\(cluster / in-process\\)")
        .containsPattern("router adds -?\\d+\\.\\d\\d ms at p50");
    JsonNode r = JSON.readTree(json.toFile());
    assertThat(r.path("inprocess_tokens_per_s").asDouble()).isPositive();
    assertThat(r.path("cluster_tokens_per_s").asDouble()).isPositive();
    // the JSON keeps three decimals of the ratio: on this tiny shape the ratio itself can be ~0.03,
    // where
    // rounding alone is a 2% relative error, so the bound is half a unit of the last digit plus 1%
    double expected =
        r.path("cluster_tokens_per_s").asDouble() / r.path("inprocess_tokens_per_s").asDouble();
    assertThat(r.path("ratio").asDouble()).isCloseTo(expected, within(0.0005 + 0.01 * expected));
    JsonNode cluster = r.path("cluster");
    assertThat(cluster.path("ok").asLong()).isPositive().isEqualTo(cluster.path("sent").asLong());
    assertThat(cluster.path("unanswered").asLong()).isZero();
    assertThat(r.path("half_saturation").path("failed").asLong()).isZero();
    assertThat(r.path("half_saturation").path("p99_ms").asDouble())
        .isGreaterThanOrEqualTo(r.path("half_saturation").path("p50_ms").asDouble());
    JsonNode probe = r.path("router_added_latency");
    assertThat(probe.path("via_router_p50_ms").asDouble()).isPositive();
    assertThat(probe.path("direct_p50_ms").asDouble()).isPositive();
    assertThat(probe.path("router_round_trip_p50_ms").asDouble())
        .isPositive()
        .isLessThan(probe.path("via_router_p50_ms").asDouble());
    assertThat(r.path("memory_mib").fieldNames())
        .toIterable()
        .containsExactly("router-0", "expert-0", "expert-1");
    assertThat(r.path("memory_mib").path("router-0").path("samples_s_mib").size()).isGreaterThan(1);

    JsonNode status =
        JSON.readTree(CliRun.of("status", "--json", "--state-dir", state.toString()).out());
    assertThat(status.path("running").asBoolean())
        .as("the scratch cluster is stopped: %s", status)
        .isFalse();
  }
}
