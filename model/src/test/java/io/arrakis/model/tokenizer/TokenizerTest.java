package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** tokenizer.json through DJL's tokenizers binding, against what transformers produced. */
class TokenizerTest {
  private static Tokenizer tokenizer;

  @TempDir Path tmp;

  @BeforeAll
  static void load() {
    tokenizer = Tokenizer.load(ReferenceModels.dir("mixtral").resolve("tokenizer.json"));
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  static Iterable<String> families() {
    return ReferenceModels.FAMILIES;
  }

  @ParameterizedTest
  @MethodSource("families")
  void encodesEveryReferenceTextPromptToExactlyItsIds(String family) {
    try (Tokenizer t = Tokenizer.load(ReferenceModels.dir(family).resolve("tokenizer.json"))) {
      int checked = 0;
      for (JsonNode p : ReferenceModels.prompts(family)) {
        if (p.has("text")) {
          assertThat(t.encode(p.get("text").asText()))
              .as("%s: %s", family, p.get("text").asText())
              .containsExactly(ReferenceModels.ints(p.get("ids")));
          checked++;
        }
      }
      assertThat(checked).as("text prompts in expected.json").isEqualTo(3);
    }
  }

  @ParameterizedTest
  @MethodSource("families")
  void decodesTheGreedyTokensToTheGreedyTextOfTransformers(String family) {
    for (JsonNode p : ReferenceModels.prompts(family)) {
      assertThat(tokenizer.decode(ReferenceModels.ints(p.get("greedy"))))
          .isEqualTo(p.get("greedy_text").asText());
    }
  }

  @Test
  void decodingTheIdsOfATextGivesTheTextBack() {
    String text = "import os\nprint(\"héllo, wörld — 日本語 🎉\")\n\tx = {'a': [1, 2]}  \n";

    assertThat(tokenizer.decode(tokenizer.encode(text))).isEqualTo(text);
  }

  @Test
  void aTextOfMoreThanTenThousandTokensIsNotTruncated() {
    String line = "def forward(self, hidden_states):\n";
    int perLine = tokenizer.encode(line).length;
    int lines = 10_000 / perLine + 1;

    int[] ids = tokenizer.encode(line.repeat(lines));

    assertThat(ids.length).isEqualTo(lines * perLine).isGreaterThan(10_000);
    assertThat(tokenizer.decode(ids)).isEqualTo(line.repeat(lines));
  }

  @Test
  void specialTokensWrittenInTheTextAreRecognisedAndCanBeLeftOutWhenDecoding() {
    int[] ids = tokenizer.encode("<|im_start|>user\nhi<|im_end|>");

    assertThat(ids[0]).isEqualTo(1);
    assertThat(ids[ids.length - 1]).isEqualTo(2);
    assertThat(tokenizer.decode(ids)).isEqualTo("<|im_start|>user\nhi<|im_end|>");
    assertThat(tokenizer.decode(ids, true)).isEqualTo("user\nhi");
  }

  @Test
  void addingSpecialTokensFollowsThePostProcessorOfTheFile() {
    // these files have no post-processor (no BOS): both ways give the same ids
    assertThat(tokenizer.encode("import os", true)).containsExactly(tokenizer.encode("import os"));
  }

  @Test
  void mapsTokensToIdsAndBack() {
    assertThat(tokenizer.vocabSize()).isEqualTo(512);
    assertThat(tokenizer.token(1)).contains("<|im_start|>");
    assertThat(tokenizer.id("<|im_end|>")).isEqualTo(OptionalInt.of(2));
    assertThat(tokenizer.id("no such token")).isEmpty();
    assertThat(tokenizer.token(512)).isEmpty();
    assertThat(tokenizer.specialTokens())
        .isEqualTo(Map.of(0, "<|endoftext|>", 1, "<|im_start|>", 2, "<|im_end|>"));
    assertThat(tokenizer.isSpecial(2)).isTrue();
    assertThat(tokenizer.isSpecial(3)).isFalse();
    IntStream.range(0, tokenizer.vocabSize())
        .forEach(
            id -> {
              String token = tokenizer.token(id).orElseThrow();
              assertThat(tokenizer.id(token)).hasValue(id);
            });
  }

  @Test
  void decodingAnIdOutsideTheVocabularyIsRefusedNamingIt() {
    assertThatThrownBy(() -> tokenizer.decode(new int[] {5, 512}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("token id 512")
        .hasMessageContaining("[0, 512)");
    assertThatThrownBy(() -> tokenizer.decode(new int[] {-1}))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void textWithNulAndUnpairedSurrogatesIsEncodedWithoutCrashing() {
    assertThat(tokenizer.decode(tokenizer.encode("a\u0000b"))).isEqualTo("a\u0000b");
    assertThat(tokenizer.decode(tokenizer.encode("x\uD800y\uDC00"))).isEqualTo("x\uFFFDy\uFFFD");
    assertThat(tokenizer.decode(tokenizer.encode("\uD83C\uDF89"))).isEqualTo("🎉");
  }

  @Test
  void aMissingFileIsNamed() {
    Path missing = tmp.resolve("tokenizer.json");

    assertThatThrownBy(() -> Tokenizer.load(missing))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining(missing.toString())
        .hasMessageContaining("no such file");
  }

  @Test
  void aFileThatIsNotJsonIsNamed() throws Exception {
    Path file = Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": ");

    assertThatThrownBy(() -> Tokenizer.load(file))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("not valid JSON");
  }

  @Test
  void aFileTheLibraryCannotLoadIsNamed() throws Exception {
    Path file =
        Files.writeString(
            tmp.resolve("tokenizer.json"),
            "{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {\"a\": 0}}}");

    assertThatThrownBy(() -> Tokenizer.load(file))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining(file.toString());
  }

  @Test
  void aVocabularyWithANegativeIdIsRefusedNamingTheField() throws Exception {
    Path file =
        Files.writeString(
            tmp.resolve("tokenizer.json"),
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}");

    assertThatThrownBy(() -> Tokenizer.load(file))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("model.vocab[\"a\"]");
  }
}
