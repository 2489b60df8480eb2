package io.arrakis.model.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The fields of a Hugging Face-style {@code config.json} that an MoE layer needs (Mixtral names).
 *
 * @param hiddenSize d, the width of a token's hidden state
 * @param intermediateSize ff, the width of an expert's inner layer
 * @param numExperts E, experts per MoE layer
 * @param topK k, experts chosen per token
 * @param numLayers transformer layers
 * @param normTopkProb whether the k gate weights are renormalised to sum 1 (Mixtral: true)
 * @param torchDtype dtype the weights are stored in, as config.json names it (e.g. "float32")
 */
public record ModelConfig(
    int hiddenSize,
    int intermediateSize,
    int numExperts,
    int topK,
    int numLayers,
    boolean normTopkProb,
    String torchDtype) {

  private static final ObjectMapper JSON = new ObjectMapper();

  public ModelConfig {
    requirePositive("hidden_size", hiddenSize);
    requirePositive("intermediate_size", intermediateSize);
    requirePositive("num_local_experts", numExperts);
    requirePositive("num_experts_per_tok", topK);
    requirePositive("num_hidden_layers", numLayers);
    if (topK > numExperts) {
      throw new ModelConfigException(
          "num_experts_per_tok (" + topK + ") exceeds num_local_experts (" + numExperts + ")");
    }
  }

  /** Reads {@code dir/config.json}. */
  public static ModelConfig load(Path dir) throws IOException {
    Path file = dir.resolve("config.json");
    JsonNode root;
    try {
      root = JSON.readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new ModelConfigException("no config.json in model directory " + dir);
    } catch (JsonProcessingException e) {
      throw new ModelConfigException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw new ModelConfigException(file + ": expected a JSON object");
    }
    try {
      return fromJson(root);
    } catch (ModelConfigException e) {
      throw new ModelConfigException(file + ": " + e.getMessage());
    }
  }

  /** Parses the fields from a config.json object. */
  public static ModelConfig fromJson(JsonNode root) {
    return new ModelConfig(
        requiredInt(root, "hidden_size"),
        requiredInt(root, "intermediate_size"),
        requiredInt(root, "num_local_experts"),
        requiredInt(root, "num_experts_per_tok"),
        requiredInt(root, "num_hidden_layers"),
        optionalBoolean(root, "norm_topk_prob", true),
        optionalString(root, "torch_dtype", "float32"));
  }

  /** This config as a Mixtral-style config.json object. */
  public ObjectNode toJson() {
    ObjectNode o = JSON.createObjectNode();
    o.putArray("architectures").add("MixtralForCausalLM");
    o.put("model_type", "mixtral");
    o.put("hidden_size", hiddenSize);
    o.put("intermediate_size", intermediateSize);
    o.put("num_local_experts", numExperts);
    o.put("num_experts_per_tok", topK);
    o.put("num_hidden_layers", numLayers);
    o.put("norm_topk_prob", normTopkProb);
    o.put("torch_dtype", torchDtype);
    return o;
  }

  /** Writes {@code dir/config.json}. */
  public void save(Path dir) throws IOException {
    Files.writeString(
        dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
  }

  private static int requiredInt(JsonNode root, String field) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      throw new ModelConfigException("missing required field '" + field + "'");
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw new ModelConfigException("field '" + field + "' must be an integer, got " + v);
    }
    return v.intValue();
  }

  private static boolean optionalBoolean(JsonNode root, String field, boolean dflt) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw new ModelConfigException("field '" + field + "' must be true or false, got " + v);
    }
    return v.booleanValue();
  }

  private static String optionalString(JsonNode root, String field, String dflt) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isTextual()) {
      throw new ModelConfigException("field '" + field + "' must be a string, got " + v);
    }
    return v.textValue();
  }

  private static void requirePositive(String field, int value) {
    if (value <= 0) {
      throw new ModelConfigException("field '" + field + "' must be positive, got " + value);
    }
  }
}
