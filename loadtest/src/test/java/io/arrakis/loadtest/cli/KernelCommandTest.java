package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench kernel} on tiny sizes: the table, the JSON shape, and one-line errors. Figures are
 * not judged.
 */
class KernelCommandTest {
  @TempDir Path tmp;

  @Test
  void tinyBenchWritesResultsAndMachine() throws Exception {
    Path json = tmp.resolve("kernel.json");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        ArrakisCli.execute(
            new PrintWriter(out, true),
            new PrintWriter(err, true),
            "bench",
            "kernel",
            "--hidden",
            "16",
            "--ffn",
            "32",
            "--experts",
            "4",
            "--top-k",
            "2",
            "--tokens",
            "1,8",
            "--threads",
            "1",
            "--repeats",
            "2",
            "--json",
            json.toString());
    assertThat(code).as("%s %s", out, err).isZero();
    assertThat(out.toString())
        .contains("hidden 16, ffn 32, 4 experts, top-2", "tokens/s", "wrote " + json);
    JsonNode root = new ObjectMapper().readTree(Files.readString(json));
    assertThat(root.path("results")).hasSize(2);
    assertThat(root.path("results").get(0).path("tokens").asInt()).isEqualTo(1);
    assertThat(root.path("results").get(1).path("tokens").asInt()).isEqualTo(8);
    for (JsonNode r : root.path("results")) {
      assertThat(r.path("tokens_per_s").asDouble()).isPositive();
      assertThat(r.path("gflops").asDouble()).isPositive();
      assertThat(r.path("cpu_median_ms").asDouble()).isPositive();
    }
    assertThat(root.path("blas").asText()).containsIgnoringCase("openblas");
    assertThat(root.path("machine").path("cores").asInt()).isPositive();
    assertThat(root.path("machine").path("java").asText()).isNotEmpty();
    assertThat(root.path("config").path("top_k").asInt()).isEqualTo(2);
  }

  @Test
  void badSizesAreOneErrorLine() {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        ArrakisCli.execute(
            new PrintWriter(out, true),
            new PrintWriter(err, true),
            "bench",
            "kernel",
            "--experts",
            "2",
            "--top-k",
            "3",
            "--tokens",
            "1");
    assertThat(code).isEqualTo(1);
    assertThat(err.toString()).startsWith("error: ").contains("top-k").hasLineCount(1);
  }
}
