package io.arrakis.model.checkpoint;

import io.arrakis.model.config.Family;

/**
 * The Hub's tensor names of a family (e.g. {@code model.layers.3.mlp.experts.7.up_proj.weight}).
 */
public final class WeightNames {
  /** The three matrices of a SwiGLU MLP. */
  public enum Proj {
    GATE("gate_proj", "w1"),
    UP("up_proj", "w3"),
    DOWN("down_proj", "w2");

    private final String hub;
    private final String mixtral;

    Proj(String hub, String mixtral) {
      this.hub = hub;
      this.mixtral = mixtral;
    }
  }

  private final Family family;

  private WeightNames(Family family) {
    this.family = family;
  }

  public static WeightNames of(Family family) {
    return new WeightNames(family);
  }

  public static String layer(int l, String rest) {
    return "model.layers." + l + "." + rest;
  }

  private String moe(int l) {
    return layer(l, family.mixtralNames() ? "block_sparse_moe." : "mlp.");
  }

  public String gate(int l) {
    return moe(l) + "gate.weight";
  }

  /** DeepSeek's selection bias of a layer's gate. */
  public String gateBias(int l) {
    return moe(l) + "gate.e_score_correction_bias";
  }

  public String expert(int l, int e, Proj p) {
    return moe(l) + "experts." + e + "." + (family.mixtralNames() ? p.mixtral : p.hub) + ".weight";
  }

  /** The shared expert's matrix (Qwen2 {@code shared_expert}, DeepSeek {@code shared_experts}). */
  public String sharedExpert(int l, Proj p) {
    return layer(
        l,
        "mlp."
            + (family == Family.DEEPSEEK_V3 ? "shared_experts." : "shared_expert.")
            + p.hub
            + ".weight");
  }

  /** Qwen2's [1, d] gate of the shared expert. */
  public String sharedExpertGate(int l) {
    return layer(l, "mlp.shared_expert_gate.weight");
  }

  /** A dense layer's MLP. */
  public String denseMlp(int l, Proj p) {
    return layer(l, "mlp." + p.hub + ".weight");
  }

  public String attention(int l, String module, String param) {
    return layer(l, "self_attn." + module + "." + param);
  }

  public String inputNorm(int l) {
    return layer(l, "input_layernorm.weight");
  }

  public String postAttentionNorm(int l) {
    return layer(l, "post_attention_layernorm.weight");
  }

  public static final String EMBED = "model.embed_tokens.weight";
  public static final String FINAL_NORM = "model.norm.weight";
  public static final String LM_HEAD = "lm_head.weight";
}
