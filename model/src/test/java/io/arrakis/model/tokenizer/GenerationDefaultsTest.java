package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End-of-sequence tokens and sampling defaults from generation_config.json and
 * tokenizer_config.json.
 */
class GenerationDefaultsTest {
  private static Tokenizer tokenizer;

  @TempDir Path dir;

  @BeforeAll
  static void loadTokenizer() {
    tokenizer = Tokenizer.load(ReferenceModels.dir("deepseek_v3").resolve("tokenizer.json"));
  }

  @AfterAll
  static void closeTokenizer() {
    tokenizer.close();
  }

  @BeforeEach
  void tokenizerConfig() throws IOException {
    write(
        "tokenizer_config.json",
        "{\"eos_token\": \"<|im_end|>\", \"pad_token\": \"<|endoftext|>\", \"bos_token\": null}");
  }

  @Test
  void theReferenceModelsEndAtImEndAndSetNoSamplingDefaults() {
    for (String family : ReferenceModels.FAMILIES) {
      Path d = ReferenceModels.dir(family);

      GenerationDefaults g = GenerationDefaults.load(d, TokenizerConfig.load(d), tokenizer);

      assertThat(g)
          .isEqualTo(
              new GenerationDefaults(
                  List.of(2),
                  OptionalInt.empty(),
                  OptionalInt.of(0),
                  Optional.empty(),
                  OptionalDouble.empty(),
                  OptionalDouble.empty(),
                  OptionalInt.empty(),
                  OptionalInt.empty()));
    }
  }

  @Test
  void eosTokenIdMayBeAListAndIsJoinedWithTheTokenizersEosTokenWithoutRepeats() throws IOException {
    write(
        "generation_config.json",
        "{\"eos_token_id\": [0, 2], \"bos_token_id\": 1, \"do_sample\": true,"
            + " \"temperature\": 0.6, \"top_p\": 0.95, \"top_k\": 20, \"max_new_tokens\": 128, \"unknown\": {}}");

    GenerationDefaults g = load();

    assertThat(g.eosTokenIds()).containsExactly(0, 2);
    assertThat(g.bosTokenId()).hasValue(1);
    assertThat(g.doSample()).contains(true);
    assertThat(g.temperature()).hasValue(0.6);
    assertThat(g.topP()).hasValue(0.95);
    assertThat(g.topK()).hasValue(20);
    assertThat(g.maxNewTokens()).hasValue(128);
  }

  @Test
  void theTokenizersEosTokenMayBeAnAddedTokenObjectAndCountsWithoutAGenerationConfig()
      throws IOException {
    write(
        "tokenizer_config.json",
        "{\"eos_token\": {\"content\": \"<|endoftext|>\", \"special\": true}}");

    assertThat(load().eosTokenIds()).containsExactly(0);
  }

  @Test
  void anIdOutsideTheVocabularyIsRefusedNamingTheField() throws IOException {
    write("generation_config.json", "{\"eos_token_id\": [2, 70000]}");

    assertThatThrownBy(this::load)
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("generation_config.json")
        .hasMessageContaining("eos_token_id[1]");
  }

  @Test
  void anEosTokenTheVocabularyLacksIsRefused() throws IOException {
    write("tokenizer_config.json", "{\"eos_token\": \"</s>\"}");

    assertThatThrownBy(this::load)
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("tokenizer_config.json")
        .hasMessageContaining("eos_token '</s>'");
  }

  @Test
  void fieldsOfTheWrongTypeAreRefusedNamingThem() throws IOException {
    write("generation_config.json", "{\"temperature\": \"hot\"}");
    assertThatThrownBy(this::load).hasMessageContaining("temperature");

    write("generation_config.json", "{\"top_k\": 2.5}");
    assertThatThrownBy(this::load).hasMessageContaining("top_k");

    write("generation_config.json", "[1, 2]");
    assertThatThrownBy(this::load)
        .hasMessageContaining("generation_config.json")
        .hasMessageContaining("JSON object");
  }

  private GenerationDefaults load() {
    return GenerationDefaults.load(dir, TokenizerConfig.load(dir), tokenizer);
  }

  private void write(String name, String json) throws IOException {
    Files.writeString(dir.resolve(name), json);
  }
}
