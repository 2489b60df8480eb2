package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.loadtest.testing.TestClusters;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code arrakis demo} end to end, with a short load: it generates its whole model, starts a
 * cluster, streams a chat completion (text printed as it arrives, its token count and finish
 * reason), runs the serving load test and prints its report, and leaves no cluster running.
 */
class DemoCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void streamsACompletionThenReportsAServingLoad() throws Exception {
    CliRun run =
        CliRun.of(
            "demo",
            "--work-dir",
            tmp.toString(),
            "--duration",
            "3s",
            "--warmup",
            "1s",
            "--max-concurrency",
            "4",
            "--input-len",
            "16",
            "--output-len",
            "16",
            "--threads",
            "1",
            "--java-opts",
            String.join(" ", TestClusters.JVM_OPTIONS));

    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out()).contains("/v1/chat/completions (streamed)");
    Matcher streamed =
        Pattern.compile(
                "(?s)\\n> (.+?)\\n\\((\\d+) tokens streamed, first after \\d+ ms, finish_reason (\\w+)\\)")
            .matcher(run.out());
    assertThat(streamed.find()).as("a streamed completion in:%n%s", run.out()).isTrue();
    assertThat(streamed.group(1)).isNotBlank();
    assertThat(Integer.parseInt(streamed.group(2))).isBetween(1, 48);
    assertThat(streamed.group(3)).isIn("length", "stop");
    assertThat(run.out())
        .contains(
            "checked: the same "
                + streamed.group(2)
                + " token ids as the model generating in this process");
    assertThat(run.out())
        .contains("Serving Benchmark Result", "Mean TTFT (ms):", "Mean TPOT (ms):", "Imbalance")
        .containsPattern("Successful requests: +[1-9]")
        .containsPattern("Failed requests: +0\\b");
    assertThat(run.err()).contains("demo done in");

    JsonNode status =
        JSON.readTree(
            CliRun.of("status", "--json", "--state-dir", tmp.resolve("demo").toString()).out());
    assertThat(status.path("running").asBoolean()).as("%s", status).isFalse();
  }
}
