package io.arrakis.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The fields of a Hugging Face-style {@code config.json} that an MoE layer needs, in any supported
 * family ({@link Family}); the whole model's are {@link ArchConfig}.
 *
 * @param hiddenSize d, the width of a token's hidden state
 * @param intermediateSize ff, the width of a routed expert's inner layer
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
    JsonNode root = ConfigFields.read(dir);
    try {
      return fromJson(root);
    } catch (ModelConfigException e) {
      throw new ModelConfigException(dir.resolve("config.json") + ": " + e.getMessage());
    }
  }

  /**
   * Parses the MoE layer's fields from a config.json object of any supported family (no {@code
   * model_type} means Mixtral, as in Arrakis' layer-only checkpoints): the routed experts' width is
   * {@code moe_intermediate_size} outside Mixtral, the expert count is spelled {@code
   * num_local_experts}, {@code num_experts} or {@code n_routed_experts}.
   */
  public static ModelConfig fromJson(JsonNode root) {
    Family family = family(root);
    // every family's experts (and dense MLPs) are SwiGLU; another activation would compute other
    // numbers without a word
    String act = ConfigFields.optionalString(root, "hidden_act", "silu");
    if (!act.equals("silu") && !act.equals("swish")) {
      throw new ModelConfigException(
          "unsupported hidden_act '" + act + "' (supported: silu, its alias swish)");
    }
    String ffnField = family == Family.MIXTRAL ? "intermediate_size" : "moe_intermediate_size";
    return new ModelConfig(
        ConfigFields.requiredInt(root, "hidden_size"),
        ConfigFields.requiredInt(root, ffnField),
        ConfigFields.requiredIntOf(root, "num_local_experts", "num_experts", "n_routed_experts"),
        ConfigFields.requiredInt(root, "num_experts_per_tok"),
        ConfigFields.requiredInt(root, "num_hidden_layers"),
        ConfigFields.optionalBoolean(root, "norm_topk_prob", family.defaultNormTopkProb()),
        ConfigFields.dtype(root));
  }

  /** The family named by {@code model_type}; Mixtral when absent. */
  public static Family family(JsonNode root) {
    return Family.of(ConfigFields.optionalString(root, "model_type", Family.MIXTRAL.modelType()));
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
        dir.resolve("config.json"),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
  }

  private static void requirePositive(String field, int value) {
    ConfigFields.requirePositive(field, value);
  }
}
