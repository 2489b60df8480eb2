package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A model directory's text side opened in one call, and a clear error for each file that is wrong.
 */
class ModelTokenizerTest {
  @TempDir Path dir;

  static Iterable<String> families() {
    return ReferenceModels.FAMILIES;
  }

  @ParameterizedTest
  @MethodSource("families")
  void everyReferencePromptBecomesTheIdsTransformersUsed(String family) {
    try (ModelTokenizer model = ModelTokenizer.open(ReferenceModels.dir(family))) {
      for (JsonNode p : ReferenceModels.prompts(family)) {
        int[] expected = ReferenceModels.ints(p.get("ids"));
        if (p.has("chat")) {
          List<ChatMessage> chat = ChatTemplateTest.messages(p.get("chat"));
          assertThat(model.renderChat(chat)).isEqualTo(p.get("text").asText());
          assertThat(model.encodeChat(chat)).containsExactly(expected);
        } else if (p.has("text")) {
          assertThat(model.encodePrompt(p.get("text").asText())).containsExactly(expected);
        }
      }
      assertThat(model.generationDefaults().eosTokenIds()).containsExactly(2);
    }
  }

  @Test
  void aModelWithoutAChatTemplateSaysSoWhenAChatIsAskedFor() throws IOException {
    copy("tokenizer.json");

    try (ModelTokenizer model = ModelTokenizer.open(dir)) {
      assertThat(model.encodePrompt("import os")).isNotEmpty();
      assertThatThrownBy(() -> model.renderChat(List.of(new ChatMessage("user", "hi"))))
          .isInstanceOfSatisfying(
              ChatTemplateException.class,
              e -> assertThat(e.reason()).isEqualTo(ChatTemplateException.Reason.NO_TEMPLATE))
          .hasMessageContaining("has no chat template")
          .hasMessageContaining(dir.toString());
    }
  }

  @Test
  void chatTemplateJinjaTakesPrecedenceOverTokenizerConfig() throws IOException {
    copy("tokenizer.json");
    copy("tokenizer_config.json");
    Files.writeString(
        dir.resolve("chat_template.jinja"),
        "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}\n");

    try (ModelTokenizer model = ModelTokenizer.open(dir)) {
      assertThat(model.renderChat(List.of(new ChatMessage("user", "hi")))).isEqualTo("[user]hi");
    }
  }

  @Test
  void aMissingDirectoryOrTokenizerIsNamed() {
    assertThatThrownBy(() -> ModelTokenizer.open(dir.resolve("nope")))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("nope")
        .hasMessageContaining("not a model directory");
    assertThatThrownBy(() -> ModelTokenizer.open(dir))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("no tokenizer.json in model directory " + dir);
  }

  @Test
  void aCorruptFileIsNamedWithTheFieldAtFault() throws IOException {
    copy("tokenizer.json");
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": 3}");
    assertThatThrownBy(() -> ModelTokenizer.open(dir))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining(dir.resolve("tokenizer_config.json").toString())
        .hasMessageContaining("chat_template");

    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": [1]}");
    assertThatThrownBy(() -> ModelTokenizer.open(dir))
        .hasMessageContaining("eos_token must be a string or an object");

    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"{% for %}\"}");
    assertThatThrownBy(() -> ModelTokenizer.open(dir))
        .hasMessageContaining(dir.resolve("tokenizer_config.json").toString())
        .hasMessageContaining("does not parse");

    Files.writeString(dir.resolve("tokenizer_config.json"), "{}");
    Files.write(dir.resolve("generation_config.json"), new byte[] {(byte) 0xff, (byte) 0xfe});
    assertThatThrownBy(() -> ModelTokenizer.open(dir))
        .hasMessageContaining(dir.resolve("generation_config.json").toString())
        .hasMessageContaining("not UTF-8");
  }

  private void copy(String name) throws IOException {
    Files.copy(ReferenceModels.dir("mixtral").resolve(name), dir.resolve(name));
  }
}
