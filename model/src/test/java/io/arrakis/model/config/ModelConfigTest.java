package io.arrakis.model.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reading config.json: the fields an MoE layer needs, and a clear error for each way it can be
 * wrong.
 */
class ModelConfigTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  @Test
  void readsTheMixtralTinyFixture() throws IOException {
    ModelConfig c = ModelConfig.load(Fixtures.dir(Fixtures.MIXTRAL_TINY));

    assertThat(c).isEqualTo(new ModelConfig(64, 128, 8, 2, 2, true, "float32"));
  }

  @Test
  void readsTheQwenStyleFixtureWithoutRenormalisation() throws IOException {
    ModelConfig c = ModelConfig.load(Fixtures.dir(Fixtures.QWEN_STYLE_BF16));

    assertThat(c).isEqualTo(new ModelConfig(48, 80, 16, 4, 1, false, "bfloat16"));
  }

  @Test
  void normTopkProbDefaultsToTrueAndTorchDtypeToFloat32() throws IOException {
    ObjectNode o = valid();
    o.remove("norm_topk_prob");
    o.remove("torch_dtype");
    save(o);

    ModelConfig c = ModelConfig.load(dir);

    assertThat(c.normTopkProb()).isTrue();
    assertThat(c.torchDtype()).isEqualTo("float32");
  }

  @Test
  void nullOptionalFieldsTakeTheirDefaults() throws IOException {
    ObjectNode o = valid();
    o.putNull("norm_topk_prob");
    save(o);

    assertThat(ModelConfig.load(dir).normTopkProb()).isTrue();
  }

  @Test
  void unknownFieldsAreIgnored() throws IOException {
    ObjectNode o = valid();
    o.put("rope_theta", 1e6);
    o.put("vocab_size", 32000);
    save(o);

    assertThat(ModelConfig.load(dir))
        .isEqualTo(new ModelConfig(32, 48, 8, 2, 3, false, "bfloat16"));
  }

  @Test
  void saveThenLoadGivesTheSameConfig() throws IOException {
    ModelConfig c = new ModelConfig(96, 160, 12, 3, 4, false, "bfloat16");

    c.save(dir);

    assertThat(ModelConfig.load(dir)).isEqualTo(c);
    assertThat(
            JSON.readTree(dir.resolve("config.json").toFile()).get("num_local_experts").intValue())
        .isEqualTo(12);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "hidden_size",
        "intermediate_size",
        "num_local_experts",
        "num_experts_per_tok",
        "num_hidden_layers"
      })
  void aMissingRequiredFieldIsNamed(String field) throws IOException {
    ObjectNode o = valid();
    o.remove(field);
    save(o);

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("missing required field '" + field + "'")
        .hasMessageContaining("config.json");
  }

  @Test
  void aNullRequiredFieldCountsAsMissing() throws IOException {
    ObjectNode o = valid();
    o.putNull("hidden_size");
    save(o);

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .hasMessageContaining("missing required field 'hidden_size'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"64.5", "\"64\"", "true", "[64]", "1e3", "4294967296"})
  void aNonIntegerSizeIsRejectedNamingTheField(String value) throws IOException {
    saveRaw(valid().toString().replace("\"hidden_size\":32", "\"hidden_size\":" + value));

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'hidden_size'")
        .hasMessageContaining("must be an integer");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "hidden_size",
        "intermediate_size",
        "num_local_experts",
        "num_experts_per_tok",
        "num_hidden_layers"
      })
  void zeroSizesAreRejectedNamingTheField(String field) throws IOException {
    ObjectNode o = valid();
    o.put(field, 0);
    save(o);

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'" + field + "'")
        .hasMessageContaining("must be positive, got 0");
  }

  @Test
  void negativeSizesAreRejected() {
    assertThatThrownBy(() -> new ModelConfig(64, -128, 8, 2, 2, true, "float32"))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'intermediate_size' must be positive, got -128");
  }

  @Test
  void topKLargerThanTheNumberOfExpertsIsRejected() throws IOException {
    ObjectNode o = valid();
    o.put("num_experts_per_tok", 9);
    save(o);

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("num_experts_per_tok (9)")
        .hasMessageContaining("num_local_experts (8)");
  }

  @Test
  void topKEqualToTheNumberOfExpertsIsAllowed() {
    assertThat(new ModelConfig(8, 8, 4, 4, 1, true, "float32").topK()).isEqualTo(4);
  }

  @Test
  void aNonBooleanNormTopkProbIsRejected() throws IOException {
    ObjectNode o = valid();
    o.put("norm_topk_prob", "yes");
    save(o);

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'norm_topk_prob'");
  }

  @Test
  void aNonStringTorchDtypeIsRejected() throws IOException {
    ObjectNode o = valid();
    o.put("torch_dtype", 16);
    save(o);

    assertThatThrownBy(() -> ModelConfig.load(dir)).hasMessageContaining("'torch_dtype'");
  }

  @Test
  void badJsonIsRejected() throws IOException {
    saveRaw("{\"hidden_size\": 32,");

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("config.json")
        .hasMessageContaining("not valid JSON");
  }

  @ParameterizedTest
  @ValueSource(strings = {"[1, 2]", "42", "\"config\"", ""})
  void aConfigThatIsNotAJsonObjectIsRejected(String content) throws IOException {
    saveRaw(content);

    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("expected a JSON object");
  }

  @Test
  void aMissingConfigJsonIsNamed() {
    assertThatThrownBy(() -> ModelConfig.load(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("no config.json")
        .hasMessageContaining(dir.toString());
  }

  /** A valid config whose every field differs from its default. */
  private static ObjectNode valid() {
    ObjectNode o = JSON.createObjectNode();
    o.put("hidden_size", 32);
    o.put("intermediate_size", 48);
    o.put("num_local_experts", 8);
    o.put("num_experts_per_tok", 2);
    o.put("num_hidden_layers", 3);
    o.put("norm_topk_prob", false);
    o.put("torch_dtype", "bfloat16");
    return o;
  }

  private void save(ObjectNode o) throws IOException {
    saveRaw(o.toString());
  }

  private void saveRaw(String content) throws IOException {
    Files.writeString(dir.resolve("config.json"), content);
  }
}
