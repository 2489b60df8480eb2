package io.arrakis.engine.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.testing.Checkpoints;
import io.arrakis.engine.testing.PenaltyReference;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.Family;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.testing.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The {@code arrakis model} commands, run as the launcher runs them. */
class ModelCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path dir;

  private static String run(String... args) {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setOut(new PrintStream(buf, true));
    try {
      int rc = ModelCommand.execute(args);
      assertThat(rc).as("exit status of %s", String.join(" ", args)).isZero();
    } finally {
      System.setOut(old);
    }
    return buf.toString();
  }

  @Test
  void scoreWritesTheReferenceFilesFormatWithTheirLogitsAndTokens() throws Exception {
    String name = "deepseek_v3";
    var prompts = ReferenceModels.prompts(name);
    StringBuilder in = new StringBuilder("{\"prompts\": [");
    for (int p = 0; p < 3; p++) {
      in.append(p > 0 ? "," : "")
          .append("{\"ids\": ")
          .append(Arrays.toString(prompts.get(p).ids()))
          .append("}");
    }
    Files.writeString(dir.resolve("prompts.json"), in.append("]}").toString());
    Path out = dir.resolve("out.safetensors");

    run(
        "score",
        "--model",
        ReferenceModels.dir(name).toString(),
        "--input",
        dir.resolve("prompts.json").toString(),
        "--output",
        out.toString(),
        "--greedy",
        "12");

    JsonNode json = JSON.readTree(dir.resolve("out.json").toFile());
    try (SafetensorsFile f = SafetensorsFile.open(out)) {
      for (int p = 0; p < 3; p++) {
        assertThat(json.get("prompts").get(p).get("greedy").toString())
            .isEqualTo(Arrays.toString(prompts.get(p).greedy()).replace(" ", ""));
        for (String t : new String[] {"logits_" + p, "gen_logits_" + p}) {
          var b = f.bytes(t).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
          float[] got = new float[b.remaining()];
          b.get(got);
          assertThat(Fixtures.maxAbsDiff(got, ReferenceModels.expected(name, t)))
              .as(t)
              .isLessThanOrEqualTo(1e-4f);
        }
      }
    }
  }

  @Test
  void scoreEncodesTextAndRendersChatPromptsToTheReferenceIds() throws Exception {
    String name = "qwen3_moe";
    JsonNode expected = ReferenceModels.expectedJson(name);
    var in = JSON.createObjectNode();
    var list = in.putArray("prompts");
    for (JsonNode p : expected.get("prompts")) {
      var entry = list.addObject();
      if (p.has("chat")) {
        entry.set("chat", p.get("chat"));
      } else if (p.has("text")) {
        entry.put("text", p.get("text").asText());
      } else {
        entry.set("ids", p.get("ids"));
      }
    }
    Files.writeString(dir.resolve("prompts.json"), in.toString());
    Path out = dir.resolve("out.safetensors");

    run(
        "score",
        "--model",
        ReferenceModels.dir(name).toString(),
        "--input",
        dir.resolve("prompts.json").toString(),
        "--output",
        out.toString(),
        "--greedy",
        "12");

    JsonNode got = JSON.readTree(dir.resolve("out.json").toFile());
    for (int p = 0; p < expected.get("prompts").size(); p++) {
      assertThat(got.get("prompts").get(p).get("ids"))
          .as("prompt %d ids", p)
          .isEqualTo(expected.get("prompts").get(p).get("ids"));
      assertThat(got.get("prompts").get(p).get("greedy"))
          .as("prompt %d greedy", p)
          .isEqualTo(expected.get("prompts").get(p).get("greedy"));
    }
  }

  @Test
  void runStreamsTextAndEndsBeforeAStopString() throws Exception {
    var p =
        ReferenceModels.prompts("deepseek_v3")
            .get(0); // greedy text "rororororororororororororo" (12 tokens)
    String ids = Arrays.toString(p.ids()).replaceAll("[\\[\\] ]", "");
    String model = ReferenceModels.dir("deepseek_v3").toString();

    assertThat(run("run", "--model", model, "--ids", ids, "--max-tokens", "12"))
        .isEqualTo("rorororororororororororo\n");
    assertThat(run("run", "--model", model, "--ids", ids, "--max-tokens", "12", "--stop", "ororo"))
        .isEqualTo("r\n");
  }

  @Test
  void inspectCountsParametersAndActiveShare() throws Exception {
    String text = run("inspect", ReferenceModels.dir("mixtral").toString());
    // 2 layers x 8 experts x 3 x 64 x 128 routed; top-2 of 8 active
    assertThat(text)
        .contains("mixtral")
        .contains("2 MoE, 0 dense")
        .contains("8 per MoE layer, top-2")
        .contains("per expert   24.6K parameters, 48.0 KiB as stored")
        .contains("[BF16]");
  }

  @Test
  void inspectShowsWhichLayersSlide() throws Exception {
    Path model = dir.resolve("sliding");
    Checkpoints.copy("qwen2_moe", Files.createDirectories(model));
    Checkpoints.editConfig(
        model,
        c -> {
          c.put("use_sliding_window", true).put("sliding_window", 16);
          c.putArray("layer_types").add("sliding_attention").add("full_attention");
        });
    assertThat(run("inspect", model.toString()))
        .contains("q/k/v biases, sliding window 16 in 1 of 2 layers");
    assertThat(run("inspect", ReferenceModels.dir("qwen2_moe").toString()))
        .doesNotContain("sliding");
  }

  @ParameterizedTest
  @EnumSource(Family.class)
  void generateArchWritesAWholeModelThatRuns(Family family) throws Exception {
    Path model = dir.resolve(family.modelType());
    run(
        "generate",
        "--arch",
        family.modelType(),
        "--out",
        model.toString(),
        "--layers",
        "2",
        "--hidden",
        "64",
        "--heads",
        "4",
        "--experts",
        "8",
        "--top-k",
        "2",
        "--ffn",
        "32",
        "--seed",
        "3");

    ArchConfig c = ArchConfig.load(model);
    assertThat(c.family()).isEqualTo(family);
    assertThat(Files.exists(model.resolve("tokenizer.json"))).isTrue();
    try (Engine engine = Engine.load(model, EngineOptions.DEFAULT)) {
      float[] logits = engine.step(List.of(SequenceChunk.of(1, 1, 85, 91, 278))).logits(0);
      assertThat(logits).hasSize(c.vocabSize());
      for (float v : logits) {
        assertThat(Float.isFinite(v)).isTrue();
      }
    }
    assertThat(run("inspect", model.toString())).contains(family.modelType());
  }

  @Test
  void generateWithoutArchStillWritesTheLayerOnlyModel() throws Exception {
    Path model = dir.resolve("layers");
    run(
        "generate",
        "--out",
        model.toString(),
        "--layers",
        "1",
        "--experts",
        "4",
        "--hidden",
        "16",
        "--ffn",
        "8");
    assertThat(JSON.readTree(model.resolve("config.json").toFile()).has("vocab_size")).isFalse();
    try (var moe = MoeModel.open(model)) {
      assertThat(moe.moeLayers()).containsExactly(0);
    }
  }

  @Test
  void runStreamsGreedyTokensOfAnIdsPrompt() throws Exception {
    var p = ReferenceModels.prompts("qwen2_moe").get(0);
    String text = runIds(p.ids());
    StringBuilder want = new StringBuilder();
    for (int t : p.greedy()) {
      want.append(t).append(' ');
    }
    assertThat(text.trim()).isEqualTo(want.toString().trim());
  }

  @Test
  void runAppliesPenaltiesAsDefined() throws Exception {
    var p = ReferenceModels.prompts("qwen2_moe").get(5);
    List<Integer> want = new ArrayList<>();
    try (Engine engine = Engine.load(ReferenceModels.dir("qwen2_moe"), EngineOptions.DEFAULT)) {
      int vocab = engine.config().vocabSize();
      float[] logits = engine.step(List.of(SequenceChunk.of(1, p.ids()))).logits(0);
      for (int t = 0; t < 12; t++) {
        float[] penalized = PenaltyReference.penalize(logits, p.ids(), want, 1.5f, 0.5f, 1.2f);
        want.add(Sampler.argmax(penalized, 0, vocab));
        logits = engine.step(List.of(SequenceChunk.of(1, want.get(t)))).logits(0);
      }
    }
    String text =
        runIds(
            p.ids(),
            "--presence-penalty",
            "1.5",
            "--frequency-penalty",
            "0.5",
            "--repetition-penalty",
            "1.2");
    assertThat(text.trim().split(" "))
        .containsExactly(want.stream().map(String::valueOf).toArray(String[]::new));
    assertThat(want).as("the penalties change the tokens").isNotEqualTo(box(p.greedy()));
  }

  /** {@code model run} of qwen2_moe on token ids: 12 greedy ids past eos, with {@code more}. */
  private static String runIds(int[] ids, String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "run",
                "--model",
                ReferenceModels.dir("qwen2_moe").toString(),
                "--ids",
                Arrays.toString(ids).replaceAll("[\\[\\] ]", ""),
                "--max-tokens",
                "12",
                "--ignore-eos",
                "--show-ids"));
    args.addAll(List.of(more));
    return run(args.toArray(String[]::new));
  }

  private static List<Integer> box(int[] a) {
    return Arrays.stream(a).boxed().toList();
  }
}
