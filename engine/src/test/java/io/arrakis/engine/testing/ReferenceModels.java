package io.arrakis.engine.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.model.safetensors.SafetensorsFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The reference checkpoints made by Hugging Face transformers (copied from shared/models into the
 * test resources) with their expected outputs.
 */
public final class ReferenceModels {
  public static final List<String> NAMES =
      List.of("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3");
  private static final ObjectMapper JSON = new ObjectMapper();

  private ReferenceModels() {}

  private static final List<String> FILES =
      List.of(
          "config.json",
          "model.safetensors",
          "generation_config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          "expected.json",
          "expected.safetensors");
  private static final Map<String, Path> COPIED = new HashMap<>();

  /**
   * The model's directory: in this module's test resources, or, for other modules' tests that take
   * it from this module's test jar, a copy in the build folder of the module running them.
   */
  public static synchronized Path dir(String name) {
    URL url = ReferenceModels.class.getResource("/models/" + name + "/config.json");
    if (url == null) {
      throw new IllegalStateException("reference model " + name + " is not on the test classpath");
    }
    try {
      if (url.getProtocol().equals("file")) {
        return Path.of(url.toURI()).getParent();
      }
      Path copied = COPIED.get(name);
      if (copied != null) {
        return copied;
      }
      Path dir = Path.of("target", "models", name).toAbsolutePath();
      Files.createDirectories(dir);
      for (String f : FILES) {
        try (InputStream in =
            ReferenceModels.class.getResourceAsStream("/models/" + name + "/" + f)) {
          if (in != null) {
            Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      COPIED.put(name, dir);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
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
      out.add(
          new Prompt(
              ints(p.get("ids")),
              ints(p.get("greedy")),
              p.get("min_margin").asDouble(),
              p.has("text") ? p.get("text").asText() : null,
              p.get("chat")));
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

  /**
   * transformers' log-probabilities at each greedy step of prompt {@code p}: the log-softmax (in
   * double) of the logits each greedy token was chosen from ({@code gen_logits_P}), [step][token].
   * They agree within 2e-4 with any computation whose logits agree within the reference's 1e-4.
   */
  public static double[][] greedyLogprobs(String name, int p) throws IOException {
    return logSoftmax(expected(name, "gen_logits_" + p), prompts(name).get(p).greedy().length);
  }

  /**
   * transformers' log-probabilities at each position of prompt {@code p} in one forward pass
   * ({@code logits_P}), [position][token]: row k scores prompt token k + 1.
   */
  public static double[][] promptLogprobs(String name, int p) throws IOException {
    return logSoftmax(expected(name, "logits_" + p), prompts(name).get(p).ids().length);
  }

  private static double[][] logSoftmax(float[] logits, int rows) {
    int vocab = logits.length / rows;
    double[][] out = new double[rows][vocab];
    for (int t = 0; t < rows; t++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < vocab; i++) {
        max = Math.max(max, logits[t * vocab + i]);
      }
      double sum = 0;
      for (int i = 0; i < vocab; i++) {
        sum += Math.exp(logits[t * vocab + i] - max);
      }
      double logSum = max + Math.log(sum);
      for (int i = 0; i < vocab; i++) {
        out[t][i] = logits[t * vocab + i] - logSum;
      }
    }
    return out;
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }
}
