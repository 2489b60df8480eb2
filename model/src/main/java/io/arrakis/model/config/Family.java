package io.arrakis.model.config;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The MoE architecture families Arrakis runs, by their config.json {@code model_type}. */
public enum Family {
  MIXTRAL("mixtral"),
  QWEN2_MOE("qwen2_moe"),
  QWEN3_MOE("qwen3_moe"),
  DEEPSEEK_V3("deepseek_v3");

  private final String modelType;

  Family(String modelType) {
    this.modelType = modelType;
  }

  /** The config.json spelling, e.g. "qwen2_moe". */
  public String modelType() {
    return modelType;
  }

  /** The family of a {@code model_type}; refused in one line naming the supported ones. */
  public static Family of(String modelType) {
    for (Family f : values()) {
      if (f.modelType.equals(modelType)) {
        return f;
      }
    }
    throw new ModelConfigException(
        "unsupported model_type '" + modelType + "' (supported: " + supported() + ")");
  }

  public static String supported() {
    return Arrays.stream(values()).map(Family::modelType).collect(Collectors.joining(", "));
  }

  /**
   * Whether the MoE block's experts are named Mixtral's way (block_sparse_moe.experts.E.w1/w2/w3).
   */
  public boolean mixtralNames() {
    return this == MIXTRAL;
  }

  /**
   * transformers' default of {@code norm_topk_prob} for this family (Mixtral always renormalises).
   */
  public boolean defaultNormTopkProb() {
    return this == MIXTRAL || this == DEEPSEEK_V3;
  }

  @Override
  public String toString() {
    return modelType;
  }
}
