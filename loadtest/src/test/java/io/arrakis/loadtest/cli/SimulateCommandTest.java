package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code arrakis simulate} and {@code simulate calibrate} from the command line, without a cluster.
 */
class SimulateCommandTest {
  @TempDir Path tmp;

  @Test
  void bothCommandsHaveHelp() {
    assertThat(CliRun.of("simulate", "--help").out()).startsWith("Usage: arrakis simulate");
    assertThat(CliRun.of("simulate", "calibrate", "--help").out())
        .startsWith("Usage: arrakis simulate calibrate");
  }

  @Test
  void projectsATableAndJsonWithTheBuiltInCalibration() throws Exception {
    Path json = tmp.resolve("p.json");
    CliRun r =
        CliRun.of(
            "simulate",
            "--nodes",
            "2,8",
            "--experts",
            "32",
            "--top-k",
            "4",
            "--requests",
            "2000",
            "--json",
            json.toString());

    assertThat(r.code()).as("%s", r).isZero();
    assertThat(r.out()).contains("calibration ", "nodes", "tokens/s", "bottleneck");
    assertThat(r.out().lines().filter(l -> l.matches("\\s+(2|8)\\s+[\\d,]+\\s.*"))).hasSize(2);
    JsonNode root = new ObjectMapper().readTree(json.toFile());
    assertThat(root.path("results")).hasSize(2);
    assertThat(root.path("results").get(1).path("nodes").asInt()).isEqualTo(8);
    assertThat(root.path("results").get(1).path("tokens_per_s").asDouble()).isPositive();
    assertThat(root.path("config").path("experts").asInt()).isEqualTo(32);
  }

  @Test
  void aMissingCalibrationFileIsOneLineSayingHowToMakeOne() {
    CliRun r =
        CliRun.of("simulate", "--calibration", tmp.resolve("none.json").toString(), "--nodes", "2");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err())
        .startsWith("error: no such file: ")
        .contains("simulate calibrate")
        .hasLineCount(1);
  }

  @Test
  void conflictingLoadsAreOneErrorLine() {
    CliRun r = CliRun.of("simulate", "--nodes", "2", "--rate", "100", "--concurrency", "4");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err())
        .isEqualTo("error: give one of --concurrency, --concurrency-per-node and --rate\n");
  }

  @Test
  void badCalibrationRunsAreOneErrorLine() {
    CliRun r =
        CliRun.of(
            "simulate",
            "calibrate",
            "--out",
            tmp.resolve("c.json").toString(),
            "--model",
            tmp.toString(),
            "--runs",
            "16x16,fast",
            "--state-dir",
            tmp.resolve("s").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: --runs items must be CALLERSxTOKENS").hasLineCount(1);
  }
}
