package io.arrakis.model.moe;

/**
 * Mixtral's tensor names for the MoE block of a layer (other families: {@link
 * io.arrakis.model.checkpoint.WeightNames}).
 */
public final class TensorNames {
  private TensorNames() {}

  /**
   * Mean of synthetic inputs [d]: written by the generator so load tests reproduce the model's
   * skew.
   */
  public static final String INPUT_BIAS = "arrakis.input_bias";

  public static String gate(int layer) {
    return "model.layers." + layer + ".block_sparse_moe.gate.weight";
  }

  /** {@code which} is "w1", "w2" or "w3". */
  public static String expert(int layer, int expert, String which) {
    return "model.layers."
        + layer
        + ".block_sparse_moe.experts."
        + expert
        + "."
        + which
        + ".weight";
  }
}
