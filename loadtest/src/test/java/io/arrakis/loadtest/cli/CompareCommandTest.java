package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.model.synthetic.GeneratorOptions;
import io.arrakis.model.synthetic.SyntheticModelGenerator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code placement compare} on a real 4-node cluster and a strongly skewed model: every strategy is
 * rolled out live and loaded with no failed call, the table and JSON agree, the balanced placement
 * with spare slots evens the measured node load out where contiguous cannot, and the cluster is
 * gone afterwards.
 */
class CompareCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void comparesEveryStrategyOnOneLiveCluster() throws Exception {
    Path model = tmp.resolve("model");
    // 8 experts, Zipf 1.4: expert 0 carries well over a quarter of the load, more than one of the 4
    // nodes should, so only a placement that replicates it can even the nodes out
    SyntheticModelGenerator.generate(
        model, new GeneratorOptions(2, 8, 64, 128, 2, true, false, 1.4, 7L));
    Path json = tmp.resolve("compare.json");
    Path html = tmp.resolve("compare.html");
    Path state = tmp.resolve("state");

    CliRun run =
        CliRun.of(
            "placement",
            "compare",
            "--model",
            model.toString(),
            "--nodes",
            "4",
            "--slots-per-node",
            "3",
            "--replicas-per-layer",
            "8,12",
            "--profile",
            "3s",
            "--duration",
            "4s",
            "--warmup",
            "1s",
            "--concurrency",
            "4",
            "--tokens",
            "8",
            "--threads",
            "1",
            "--java-opts",
            String.join(" ", TestClusters.JVM_OPTIONS),
            "--state-dir",
            state.toString(),
            "--json",
            json.toString(),
            "--html",
            html.toString());

    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out())
        .contains("strategy")
        .contains("contiguous")
        .contains("round-robin")
        .contains("balanced (budget 8)")
        .contains("balanced (budget 12)")
        .containsPattern("check +\\d+ requests .* PASS");

    JsonNode variants = JSON.readTree(json.toFile()).path("variants");
    List<String> labels = new ArrayList<>();
    variants.forEach(v -> labels.add(v.path("strategy").asText()));
    assertThat(labels)
        .containsExactly(
            "contiguous", "round-robin", "balanced (budget 8)", "balanced (budget 12)");
    for (JsonNode v : variants) {
      assertThat(v.path("ok").asLong()).as("%s", v).isPositive();
      assertThat(v.path("failed").asLong()).as("%s", v).isZero();
      assertThat(v.path("unanswered").asLong()).as("%s", v).isZero();
      assertThat(v.path("sent").asLong()).isEqualTo(v.path("ok").asLong());
      assertThat(v.path("tokens_per_s").asDouble()).isPositive();
    }
    JsonNode contiguous = variants.get(0);
    JsonNode replicated = variants.get(3);
    assertThat(contiguous.path("experts_moved").asInt())
        .as("the cluster starts contiguous")
        .isZero();
    assertThat(contiguous.path("copies_per_layer").asDouble()).isEqualTo(8.0);
    assertThat(replicated.path("copies_per_layer").asDouble())
        .as("hot experts replicated, within the budget")
        .isGreaterThan(8.0)
        .isLessThanOrEqualTo(12.0);
    assertThat(replicated.path("experts_moved").asInt()).isPositive();
    assertThat(replicated.path("predicted_balance").asDouble())
        .isLessThan(contiguous.path("predicted_balance").asDouble());
    assertThat(replicated.path("imbalance").asDouble())
        .as("measured max/mean node load")
        .isLessThan(contiguous.path("imbalance").asDouble());

    String page = Files.readString(html);
    assertThat(page)
        .contains("<svg")
        .contains("balanced (budget 12)")
        .doesNotContain("http://", "https://");
    JsonNode status =
        JSON.readTree(CliRun.of("status", "--json", "--state-dir", state.toString()).out());
    assertThat(status.path("running").asBoolean())
        .as("the scratch cluster is stopped: %s", status)
        .isFalse();
  }
}
