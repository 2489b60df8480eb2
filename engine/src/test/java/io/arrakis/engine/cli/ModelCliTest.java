package io.arrakis.engine.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.model.testing.Naive;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code arrakis model generate} and {@code arrakis model reference}, run the way the launcher runs
 * them.
 */
class ModelCliTest {
  private static final int HIDDEN = 16;

  @TempDir Path tmp;

  @ParameterizedTest(name = "dtype {0}, renormalise {1}")
  @CsvSource({"f32, true", "bf16, false"})
  void referenceOnAGeneratedModelWritesWhatReferenceMoeComputes(String dtype, boolean renormalize)
      throws Exception {
    Path model = tmp.resolve("model");
    Path in = tmp.resolve("in.safetensors");
    Path out = tmp.resolve("out.safetensors");
    String[] generate = {
      "generate",
      "--out",
      model.toString(),
      "--layers",
      "2",
      "--experts",
      "8",
      "--hidden",
      String.valueOf(HIDDEN),
      "--ffn",
      "24",
      "--top-k",
      "3",
      "--dtype",
      dtype,
      "--skew",
      "0.8",
      "--seed",
      "7"
    };
    if (!renormalize) {
      generate = append(generate, "--no-renorm");
    }
    assertThat(ModelCli.execute(generate)).isZero();
    float[][] x = Naive.gaussian(new SplittableRandom(3), 10, HIDDEN, 1, false);
    writeHiddenStates(in, x);

    int rc =
        ModelCli.execute(
            "reference",
            "--model",
            model.toString(),
            "--layer",
            "1",
            "--input",
            in.toString(),
            "--output",
            out.toString());

    assertThat(rc).isZero();
    ReferenceMoe.Result want;
    try (MoeModel m = MoeModel.open(model)) {
      assertThat(m.config().normTopkProb()).isEqualTo(renormalize);
      assertThat(m.weightsDtype()).isEqualTo(dtype.equals("bf16") ? "BF16" : "F32");
      want = ReferenceMoe.load(m, 1).forward(Nd4j.createFromArray(x));
    }
    try (SafetensorsFile f = SafetensorsFile.open(out)) {
      assertThat(f.tensors().keySet())
          .containsExactlyInAnyOrder("output", "topk_ids", "topk_weights");
      assertThat(f.info("output").dtype()).isEqualTo(StDType.F32);
      assertThat(f.info("output").shape()).containsExactly(10, HIDDEN);
      assertThat(f.info("topk_ids").dtype()).isEqualTo(StDType.I32);
      assertThat(f.info("topk_ids").shape()).containsExactly(10, 3);
      assertThat(f.info("topk_weights").dtype()).isEqualTo(StDType.F32);
      assertThat(f.info("topk_weights").shape()).containsExactly(10, 3);
    }
    float[] output = Fixtures.floats(out, "output");
    float[] expected = want.output().data().asFloat();
    assertThat(Fixtures.maxAbsDiff(output, expected))
        .isLessThanOrEqualTo(1e-6f * Fixtures.maxAbs(expected));
    assertThat(Fixtures.ints(out, "topk_ids")).containsExactly(want.routing().ids());
    float[] weights = Fixtures.floats(out, "topk_weights");
    assertThat(weights).containsExactly(want.routing().weights(), within(1e-7f));
    for (int t = 0; t < 10; t++) {
      float sum = weights[3 * t] + weights[3 * t + 1] + weights[3 * t + 2];
      if (renormalize) {
        assertThat(sum).as("token %d weight sum", t).isCloseTo(1f, within(1e-6f));
      } else {
        assertThat(sum).as("token %d weight sum", t).isLessThan(1f);
      }
    }
  }

  @Test
  void referenceReproducesTheMixtralTinyFixture() throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    Path out = tmp.resolve("out.safetensors");

    int rc =
        ModelCli.execute(
            "reference",
            "--model",
            dir.toString(),
            "--layer",
            "1",
            "--input",
            dir.resolve("input.safetensors").toString(),
            "--output",
            out.toString());

    assertThat(rc).isZero();
    Path expectedFile = dir.resolve("expected-layer1.safetensors");
    float[] expected = Fixtures.floats(expectedFile, "output");
    assertThat(Fixtures.maxAbsDiff(Fixtures.floats(out, "output"), expected))
        .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(expected));
    assertThat(Fixtures.ints(out, "topk_ids"))
        .containsExactly(Fixtures.ints(expectedFile, "topk_ids"));
    assertThat(
            Fixtures.maxAbsDiff(
                Fixtures.floats(out, "topk_weights"),
                Fixtures.floats(expectedFile, "topk_weights")))
        .isLessThanOrEqualTo(1e-5f);
  }

  @Test
  void aMissingModelDirectoryFailsWithExitCodeOneAndOneLine() throws Exception {
    Path in = tmp.resolve("in.safetensors");
    writeHiddenStates(in, new float[2][HIDDEN]);
    Path missing = tmp.resolve("no-such-model");

    Run run =
        run(
            "reference",
            "--model",
            missing.toString(),
            "--layer",
            "0",
            "--input",
            in.toString(),
            "--output",
            tmp.resolve("out.safetensors").toString());

    assertThat(run.rc()).isEqualTo(1);
    assertThat(run.err())
        .contains("error:")
        .contains(missing.toString())
        .contains("does not exist");
    assertThat(run.err()).doesNotContain("\tat ");
    assertThat(tmp.resolve("out.safetensors")).doesNotExist();
  }

  @Test
  void hiddenStatesOfTheWrongWidthFailWithExitCodeOne() throws Exception {
    Path model = tmp.resolve("model");
    assertThat(
            ModelCli.execute(
                "generate",
                "--out",
                model.toString(),
                "--hidden",
                String.valueOf(HIDDEN),
                "--ffn",
                "8",
                "--experts",
                "4"))
        .isZero();
    Path in = tmp.resolve("in.safetensors");
    writeHiddenStates(in, new float[3][HIDDEN + 1]);

    Run run =
        run(
            "reference",
            "--model",
            model.toString(),
            "--layer",
            "0",
            "--input",
            in.toString(),
            "--output",
            tmp.resolve("out.safetensors").toString());

    assertThat(run.rc()).isEqualTo(1);
    assertThat(run.err()).contains("width " + (HIDDEN + 1)).contains("hidden size is " + HIDDEN);
    assertThat(run.err()).doesNotContain("\tat ");
  }

  @Test
  void aLayerThatIsNotInTheModelFailsWithExitCodeOne() throws Exception {
    Path model = tmp.resolve("model");
    assertThat(
            ModelCli.execute(
                "generate",
                "--out",
                model.toString(),
                "--layers",
                "2",
                "--hidden",
                String.valueOf(HIDDEN),
                "--ffn",
                "8",
                "--experts",
                "4"))
        .isZero();
    Path in = tmp.resolve("in.safetensors");
    writeHiddenStates(in, new float[1][HIDDEN]);

    Run run =
        run(
            "reference",
            "--model",
            model.toString(),
            "--layer",
            "5",
            "--input",
            in.toString(),
            "--output",
            tmp.resolve("out.safetensors").toString());

    assertThat(run.rc()).isEqualTo(1);
    assertThat(run.err()).contains("layer 5");
  }

  @Test
  void anInputFileWithoutHiddenStatesFailsWithExitCodeOne() throws Exception {
    Path in = tmp.resolve("in.safetensors");
    SafetensorsWriter.write(
        in,
        Map.of(
            new SafetensorsWriter.Entry("something_else", StDType.F32, new long[] {1}),
            ByteBuffer.allocate(4)),
        Map.of());

    Run run =
        run(
            "reference",
            "--model",
            Fixtures.dir(Fixtures.MIXTRAL_TINY).toString(),
            "--layer",
            "0",
            "--input",
            in.toString(),
            "--output",
            tmp.resolve("out.safetensors").toString());

    assertThat(run.rc()).isEqualTo(1);
    assertThat(run.err()).contains("'hidden_states'");
  }

  @Test
  void generateRefusesAnUnknownDtype() {
    Run run = run("generate", "--out", tmp.resolve("m").toString(), "--dtype", "f16");

    assertThat(run.rc()).isEqualTo(1);
    assertThat(run.err()).contains("--dtype");
    assertThat(tmp.resolve("m")).doesNotExist();
  }

  @Test
  void missingOptionsAreAUsageErrorNotACrash() {
    Run run = run("reference", "--layer", "0");

    assertThat(run.rc()).isNotZero();
    assertThat(run.err()).contains("--model");
  }

  private record Run(int rc, String err) {}

  /** Runs the CLI capturing what it prints on stderr. */
  private static Run run(String... args) {
    PrintStream saved = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
    try {
      int rc = ModelCli.execute(args);
      System.err.flush();
      return new Run(rc, buf.toString(StandardCharsets.UTF_8));
    } finally {
      System.setErr(saved);
    }
  }

  private static void writeHiddenStates(Path file, float[][] x) throws Exception {
    SafetensorsWriter.write(
        file,
        Map.of(
            new SafetensorsWriter.Entry(
                "hidden_states", StDType.F32, new long[] {x.length, x[0].length}),
            Naive.f32Bytes(x)),
        Map.of("format", "pt"));
  }

  private static String[] append(String[] a, String s) {
    String[] out = Arrays.copyOf(a, a.length + 1);
    out[a.length] = s;
    return out;
  }
}
