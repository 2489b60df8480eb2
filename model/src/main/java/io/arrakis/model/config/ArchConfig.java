package io.arrakis.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A whole decoder-only MoE language model's config.json, for any {@link Family}: what the runtime
 * needs beyond the MoE layer view of {@link ModelConfig}. Unknown fields are ignored; fields that
 * fix a tensor's shape are required, the rest take transformers' defaults for the family.
 *
 * @param family the architecture
 * @param vocabSize tokens in the vocabulary
 * @param hiddenSize d
 * @param numLayers decoder layers
 * @param rmsNormEps the RMSNorm epsilon
 * @param tieWordEmbeddings the LM head reuses the embedding matrix
 * @param maxPositions {@code max_position_embeddings}
 * @param dtype the weights' dtype as config.json names it
 * @param attention the attention's shape
 * @param rope rotary embedding settings
 * @param moe the MoE blocks' shape and gate rule
 * @param denseIntermediateSize the width of a dense layer's MLP
 * @param moeLayers for each layer, whether its MLP is an MoE block (else dense)
 */
public record ArchConfig(
    Family family,
    int vocabSize,
    int hiddenSize,
    int numLayers,
    double rmsNormEps,
    boolean tieWordEmbeddings,
    int maxPositions,
    String dtype,
    Attention attention,
    RopeConfig rope,
    Moe moe,
    int denseIntermediateSize,
    List<Boolean> moeLayers) {

  /**
   * The attention's shape.
   *
   * @param heads query heads
   * @param kvHeads key/value heads (GQA)
   * @param headDim a head's width (GQA)
   * @param qkvBias q, k and v projections have biases (Qwen2; {@code attention_bias} elsewhere)
   * @param outBias the output projection has a bias
   * @param qkNorm per-head RMSNorm on q and k before RoPE (Qwen3)
   * @param mla DeepSeek's multi-head latent attention, or null for GQA
   * @param softmaxScale the factor on q·k before the softmax
   * @param windows for each layer, how many keys a query sees through a sliding window (itself and
   *     the {@code window - 1} before it), 0 for all of them
   */
  public record Attention(
      int heads,
      int kvHeads,
      int headDim,
      boolean qkvBias,
      boolean outBias,
      boolean qkNorm,
      Mla mla,
      double softmaxScale,
      List<Integer> windows) {

    /** Layer {@code l}'s sliding window, 0 for none. */
    public int window(int l) {
      return windows.get(l);
    }
  }

  /**
   * Multi-head latent attention's shape (DeepSeek-V2/V3): queries and keys/values through low-rank
   * latents.
   *
   * @param qLoraRank rank of the query compression, 0 for a plain q_proj
   * @param kvLoraRank rank of the key/value latent (what the KV cache holds per token, with the
   *     rope key)
   * @param qkNopeHeadDim a head's key dims without position
   * @param qkRopeHeadDim a head's key dims with RoPE (one rope key shared by all heads)
   * @param vHeadDim a head's value width
   */
  public record Mla(
      int qLoraRank, int kvLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim) {
    public int qkHeadDim() {
      return qkNopeHeadDim + qkRopeHeadDim;
    }
  }

  /**
   * The MoE layers' experts and how tokens are routed to them.
   *
   * @param experts routed experts per MoE layer
   * @param topK experts per token
   * @param expertIntermediateSize a routed expert's inner width
   * @param sharedIntermediateSize the shared expert's inner width, 0 for none
   * @param sharedExpertGate the shared expert is scaled by sigmoid(shared_expert_gate(x)) (Qwen2)
   * @param sigmoidScores DeepSeek's sigmoid scores with selection bias and group-limited top-k
   * @param normTopkProb renormalise the k weights
   * @param nGroup expert groups (DeepSeek)
   * @param topkGroup groups a token may use (DeepSeek)
   * @param routedScalingFactor factor on the routed weights (DeepSeek)
   */
  public record Moe(
      int experts,
      int topK,
      int expertIntermediateSize,
      int sharedIntermediateSize,
      boolean sharedExpertGate,
      boolean sigmoidScores,
      boolean normTopkProb,
      int nGroup,
      int topkGroup,
      double routedScalingFactor) {}

  /** Reads and checks {@code dir/config.json}; errors name the file and the field. */
  public static ArchConfig load(Path dir) throws IOException {
    JsonNode root = ConfigFields.read(dir);
    try {
      return fromJson(root);
    } catch (ModelConfigException e) {
      throw new ModelConfigException(dir.resolve("config.json") + ": " + e.getMessage());
    }
  }

  /** Parses a config.json object; {@code model_type} is required here. */
  public static ArchConfig fromJson(JsonNode root) {
    if (!ConfigFields.present(root, "model_type")) {
      throw new ModelConfigException(
          "missing required field 'model_type' (supported: " + Family.supported() + ")");
    }
    Family family = ModelConfig.family(root);
    List<String> missing = new ArrayList<>();
    for (String f : requiredFields(family)) {
      if (!ConfigFields.present(root, f)) {
        missing.add("'" + f + "'");
      }
    }
    if (!ConfigFields.present(root, "num_local_experts")
        && !ConfigFields.present(root, "num_experts")
        && !ConfigFields.present(root, "n_routed_experts")) {
      missing.add(
          family == Family.DEEPSEEK_V3
              ? "'n_routed_experts'"
              : family == Family.MIXTRAL ? "'num_local_experts'" : "'num_experts'");
    }
    if (!missing.isEmpty()) {
      throw new ModelConfigException(
          "missing required field"
              + (missing.size() > 1 ? "s " : " ")
              + String.join(", ", missing)
              + " for "
              + family);
    }
    int hidden = positive(root, "hidden_size");
    int layers = positive(root, "num_hidden_layers");
    int heads = positive(root, "num_attention_heads");
    int kvHeads = ConfigFields.optionalInt(root, "num_key_value_heads", heads);
    ConfigFields.requirePositive("num_key_value_heads", kvHeads);
    if (heads % kvHeads != 0) {
      throw new ModelConfigException(
          "num_attention_heads ("
              + heads
              + ") is not a multiple of num_key_value_heads ("
              + kvHeads
              + ")");
    }
    int maxPositions = ConfigFields.optionalInt(root, "max_position_embeddings", 4096);
    int headDim = ConfigFields.optionalInt(root, "head_dim", hidden / heads);
    ConfigFields.requirePositive("head_dim", headDim);

    Mla mla = null;
    RopeConfig rope;
    double softmaxScale;
    boolean qkvBias;
    boolean outBias;
    if (family == Family.DEEPSEEK_V3) {
      mla =
          new Mla(
              ConfigFields.optionalInt(root, "q_lora_rank", 0),
              positive(root, "kv_lora_rank"),
              positive(root, "qk_nope_head_dim"),
              positive(root, "qk_rope_head_dim"),
              positive(root, "v_head_dim"));
      if (mla.qkRopeHeadDim() % 2 != 0) {
        throw new ModelConfigException(
            "field 'qk_rope_head_dim' must be even, got " + mla.qkRopeHeadDim());
      }
      // DeepSeek rotates interleaved pairs whatever rope_interleave says (its weights are laid out
      // so)
      rope = RopeConfig.fromJson(root, mla.qkRopeHeadDim(), true, maxPositions);
      softmaxScale = 1 / Math.sqrt(mla.qkHeadDim());
      if (!rope.type().equals("default") && rope.mscaleAllDim() != 0) {
        double m = RopeConfig.yarnMscale(rope.factor(), rope.mscaleAllDim());
        softmaxScale *= m * m;
      }
      qkvBias = ConfigFields.optionalBoolean(root, "attention_bias", false);
      outBias = qkvBias;
    } else {
      if (headDim % 2 != 0) {
        throw new ModelConfigException("field 'head_dim' must be even, got " + headDim);
      }
      rope = RopeConfig.fromJson(root, headDim, false, maxPositions);
      softmaxScale = 1 / Math.sqrt(headDim);
      boolean attentionBias = ConfigFields.optionalBoolean(root, "attention_bias", false);
      qkvBias =
          switch (family) {
            case QWEN2_MOE -> ConfigFields.optionalBoolean(root, "qkv_bias", true);
            case QWEN3_MOE -> attentionBias;
            default -> false;
          };
      outBias = family == Family.QWEN3_MOE && attentionBias;
    }
    Attention attention =
        new Attention(
            heads,
            kvHeads,
            headDim,
            qkvBias,
            outBias,
            family == Family.QWEN3_MOE,
            mla,
            softmaxScale,
            AttentionWindows.read(root, family, layers));

    ModelConfig layer = ModelConfig.fromJson(root);
    Moe moe = moeSpec(root);
    int dense =
        family == Family.MIXTRAL ? layer.intermediateSize() : positive(root, "intermediate_size");
    List<Boolean> moeLayers = new ArrayList<>();
    List<Integer> mlpOnly = ConfigFields.optionalIntList(root, "mlp_only_layers");
    int sparseStep = ConfigFields.optionalInt(root, "decoder_sparse_step", 1);
    ConfigFields.requirePositive("decoder_sparse_step", sparseStep);
    int firstDense = ConfigFields.optionalInt(root, "first_k_dense_replace", 0);
    for (int l = 0; l < layers; l++) {
      moeLayers.add(
          switch (family) {
            case MIXTRAL -> true;
            case QWEN2_MOE, QWEN3_MOE -> !mlpOnly.contains(l) && (l + 1) % sparseStep == 0;
            case DEEPSEEK_V3 -> l >= firstDense;
          });
    }
    double eps =
        ConfigFields.optionalDouble(root, "rms_norm_eps", family == Family.MIXTRAL ? 1e-5 : 1e-6);
    return new ArchConfig(
        family,
        positive(root, "vocab_size"),
        hidden,
        layers,
        eps,
        ConfigFields.optionalBoolean(root, "tie_word_embeddings", false),
        maxPositions,
        ConfigFields.dtype(root),
        attention,
        rope,
        moe,
        dense,
        List.copyOf(moeLayers));
  }

  /**
   * The MoE blocks' shape and gate rule from a config.json object (also of a layer-only
   * checkpoint).
   */
  public static Moe moeSpec(JsonNode root) {
    Family family = ModelConfig.family(root);
    ModelConfig layer = ModelConfig.fromJson(root);
    int shared =
        switch (family) {
          case QWEN2_MOE -> ConfigFields.optionalInt(root, "shared_expert_intermediate_size", 0);
          case DEEPSEEK_V3 ->
              ConfigFields.optionalInt(root, "n_shared_experts", 0) * layer.intermediateSize();
          default -> 0;
        };
    int nGroup = family == Family.DEEPSEEK_V3 ? ConfigFields.optionalInt(root, "n_group", 1) : 1;
    int topkGroup =
        family == Family.DEEPSEEK_V3 ? ConfigFields.optionalInt(root, "topk_group", nGroup) : 1;
    ConfigFields.requirePositive("n_group", nGroup);
    if (layer.numExperts() % nGroup != 0 || topkGroup < 1 || topkGroup > nGroup) {
      throw new ModelConfigException(
          "n_group ("
              + nGroup
              + ") must divide the "
              + layer.numExperts()
              + " experts and topk_group ("
              + topkGroup
              + ") must be in 1..n_group");
    }
    if (layer.topK() > layer.numExperts() / nGroup * topkGroup) {
      throw new ModelConfigException(
          "num_experts_per_tok ("
              + layer.topK()
              + ") exceeds the experts of topk_group ("
              + topkGroup
              + ") groups");
    }
    return new Moe(
        layer.numExperts(),
        layer.topK(),
        layer.intermediateSize(),
        shared,
        family == Family.QWEN2_MOE && shared > 0,
        family == Family.DEEPSEEK_V3,
        layer.normTopkProb(),
        nGroup,
        topkGroup,
        family == Family.DEEPSEEK_V3
            ? ConfigFields.optionalDouble(root, "routed_scaling_factor", 1.0)
            : 1.0);
  }

  /** {@code dir/config.json} as a JSON object (errors name the file). */
  public static JsonNode readJson(Path dir) throws IOException {
    return ConfigFields.read(dir);
  }

  private static List<String> requiredFields(Family family) {
    List<String> f =
        new ArrayList<>(
            List.of(
                "vocab_size",
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "num_experts_per_tok"));
    if (family != Family.MIXTRAL) {
      f.add("moe_intermediate_size");
    }
    if (family == Family.DEEPSEEK_V3) {
      f.addAll(List.of("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"));
    }
    return f;
  }

  private static int positive(JsonNode root, String field) {
    int v = ConfigFields.requiredInt(root, field);
    ConfigFields.requirePositive(field, v);
    return v;
  }

  /** Whether layer {@code l}'s MLP is an MoE block. */
  public boolean isMoeLayer(int l) {
    return moeLayers.get(l);
  }

  /** The MoE layer view of this config (what expert nodes and gates need). */
  public ModelConfig layerConfig() {
    return new ModelConfig(
        hiddenSize,
        moe.expertIntermediateSize(),
        moe.experts(),
        moe.topK(),
        numLayers,
        moe.normTopkProb(),
        dtype);
  }
}
