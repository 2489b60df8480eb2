package io.arrakis.engine.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.model.safetensors.SafetensorsFile;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The reference checkpoints made by Hugging Face transformers (copied from shared/models into the
 * test resources) with their expected outputs.
 */
public final class ReferenceModels {
  public static final List<String> NAMES = List.of("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3");
  private static final ObjectMapper JSON = new ObjectMapper();

  private ReferenceModels() {}

  public static Path dir(String name) {
    URL url = ReferenceModels.class.getResource("/models/" + name + "/config.json");
    if (url == null) {
      throw new IllegalStateException("reference model " + name + " is not on the test classpath");
    }
    try {
      return Path.of(url.toURI()).getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** One prompt of expected.json. */
  public record Prompt(int[] ids, int[] greedy, double minMargin, String text, JsonNode chat) {}

  public static JsonNode expectedJson(String name) throws IOException {
    return JSON.readTree(Files.readAllBytes(dir(name).resolve("expected.json")));
  }

  public static List<Prompt> prompts(String name) throws IOException {
    List<Prompt> out = new ArrayList<>();
    for (JsonNode p : expectedJson(name).get("prompts")) {
      out.add(new Prompt(ints(p.get("ids")), ints(p.get("greedy")), p.get("min_margin").asDouble(),
          p.has("text") ? p.get("text").asText() : null, p.get("chat")));
    }
    return out;
  }

  public static List<Integer> moeLayers(String name) throws IOException {
    List<Integer> out = new ArrayList<>();
    expectedJson(name).get("moe_layers").forEach(n -> out.add(n.asInt()));
    return out;
  }

  /** A float tensor of expected.safetensors, row-major. */
  public static float[] expected(String name, String tensor) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(dir(name).resolve("expected.safetensors"))) {
      var b = f.bytes(tensor).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
      float[] out = new float[b.remaining()];
      b.get(out);
      return out;
    }
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }
}
