package io.arrakis.expert.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.cli.CliErrors;
import io.arrakis.model.testing.Fixtures;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Start-up errors: exit code 1 and one line on stderr saying what is wrong, no stack trace. */
class ExpertNodeMainTest {

  record Run(int code, String out, String err) {
    List<String> errLines() {
      return err.lines().toList();
    }
  }

  static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = ExpertNodeMain.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new Run(code, out.toString(), err.toString());
  }

  static String model() {
    return Fixtures.dir(Fixtures.MIXTRAL_TINY).toString();
  }

  @Test
  void missingModelDirectory(@TempDir Path dir) {
    Run r = run("--model", dir.resolve("no-such-model").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.errLines())
        .containsExactly(
            "error: model directory " + dir.resolve("no-such-model") + " does not exist");
  }

  @Test
  void modelDirectoryWithoutWeights(@TempDir Path dir) throws Exception {
    Files.copy(Path.of(model(), "config.json"), dir.resolve("config.json"));
    Run r = run("--model", dir.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.errLines())
        .singleElement()
        .asString()
        .startsWith("error: no model*.safetensors files");
  }

  @Test
  void badExpertsSpec() {
    Run r = run("--model", model(), "--experts", "0:x");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.errLines())
        .containsExactly("error: experts item '0:x': 'x' is not an index, a range a-b or *");
    Run layer = run("--model", model(), "--experts", "7:0");
    assertThat(layer.code()).isEqualTo(1);
    assertThat(layer.errLines())
        .singleElement()
        .asString()
        .startsWith("error: ")
        .contains("layer 7 is not an MoE layer");
  }

  @Test
  void expertsAndPlacementTogether(@TempDir Path dir) {
    Run r =
        run(
            "--model",
            model(),
            "--experts",
            "all",
            "--placement",
            dir.resolve("p.json").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("error: give --experts or --placement, not both");
  }

  @Test
  void nodeMissingFromPlacement(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("p.json"), ExpertSelectionTest.PLACEMENT);
    Run r = run("--model", model(), "--placement", file.toString(), "--node-id", "expert-9");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.errLines())
        .singleElement()
        .asString()
        .startsWith("error: placement " + file)
        .contains("no node 'expert-9'");
  }

  @Test
  void multiLineMessagesAreJoined() {
    assertThat(CliErrors.oneLine(new IllegalStateException("first\n  second\r\nthird\n")))
        .isEqualTo("first second third");
    assertThat(CliErrors.oneLine(new NoSuchFileException("/x/y"))).isEqualTo("no such file: /x/y");
    assertThat(CliErrors.oneLine(new NullPointerException()))
        .isEqualTo("java.lang.NullPointerException");
  }

  @Test
  void helpNamesBothWaysOfChoosingExperts() {
    Run r = run("--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("--experts", "--placement", "--metrics-port");
  }
}
