package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The CLI's surface without a cluster: help, argument errors, commands with nothing to act on. */
class ArrakisCliTest {
  @TempDir Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"demo", "up", "status", "down", "loadtest"})
  void everyCommandHasHelp(String command) {
    CliRun r = CliRun.of(command, "--help");
    assertThat(r.code()).as("%s", r).isZero();
    assertThat(r.out()).startsWith("Usage: arrakis " + command);
  }

  @Test
  void anUnknownCommandIsOneErrorLine() {
    CliRun r = CliRun.of("frobnicate");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: ").contains("frobnicate").hasLineCount(1);
  }

  @Test
  void upWithoutNodesOrPlacementSaysSo() {
    CliRun r =
        CliRun.of("up", "--model", tmp.toString(), "--state-dir", tmp.resolve("s").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("error: give --nodes N or --placement FILE\n");
  }

  @Test
  void upWithAMissingModelSaysSo() {
    CliRun r =
        CliRun.of(
            "up",
            "--model",
            tmp.resolve("nope").toString(),
            "--nodes",
            "2",
            "--state-dir",
            tmp.resolve("s").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: ").contains("nope").hasLineCount(1);
  }

  @Test
  void aBadStrategyIsOneErrorLine() {
    CliRun r =
        CliRun.of(
            "up",
            "--model",
            tmp.toString(),
            "--nodes",
            "2",
            "--strategy",
            "random",
            "--state-dir",
            tmp.resolve("s").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: unknown strategy 'random'").hasLineCount(1);
  }

  @Test
  void statusAndDownWithoutAClusterAreCalm() {
    String dir = tmp.resolve("none").toString();
    CliRun status = CliRun.of("status", "--state-dir", dir);
    assertThat(status.code()).isZero();
    assertThat(status.out()).startsWith("no local cluster");
    CliRun json = CliRun.of("status", "--json", "--state-dir", dir);
    assertThat(json.out()).contains("\"running\" : false", "\"router\" : null");
    CliRun down = CliRun.of("down", "--state-dir", dir);
    assertThat(down.code()).isZero();
    assertThat(down.out()).startsWith("no local cluster is running");
  }

  @Test
  void loadtestWithoutTargetOrClusterSaysSo() {
    CliRun r = CliRun.of("loadtest", "--state-dir", tmp.resolve("none").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: no --target given and no local cluster is running");
  }

  @Test
  void loadtestAgainstNothingSaysItCannotReachTheRouter() {
    CliRun r = CliRun.of("loadtest", "--target", "127.0.0.1:1", "--duration", "1s");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).startsWith("error: cannot reach the router at 127.0.0.1:1").hasLineCount(1);
  }

  @Test
  void durationsReadAsPeopleWriteThem() {
    DurationConverter c = new DurationConverter();
    assertThat(c.convert("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(c.convert("30s")).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.convert("30")).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.convert("1.5m")).isEqualTo(Duration.ofSeconds(90));
    assertThat(c.convert("1h")).isEqualTo(Duration.ofHours(1));
  }
}
