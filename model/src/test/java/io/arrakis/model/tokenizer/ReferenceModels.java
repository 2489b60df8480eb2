package io.arrakis.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The text files of the four reference checkpoints made by transformers (copied from shared/models
 * into the test resources, without the weights) and their expected.json.
 */
final class ReferenceModels {
  static final List<String> FAMILIES = List.of("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3");

  private ReferenceModels() {}

  /** The family's directory under src/test/resources/models. */
  static Path dir(String family) {
    URL url = ReferenceModels.class.getResource("/models/" + family + "/tokenizer.json");
    if (url == null || !url.getProtocol().equals("file")) {
      throw new IllegalStateException(
          "reference model " + family + " is not in the test resources");
    }
    try {
      return Path.of(url.toURI()).getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The prompts of the family's expected.json. */
  static List<JsonNode> prompts(String family) {
    try {
      JsonNode root =
          new ObjectMapper().readTree(Files.readString(dir(family).resolve("expected.json")));
      List<JsonNode> out = new ArrayList<>();
      root.get("prompts").forEach(out::add);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }
}
