package io.arrakis.engine;

/**
 * Sees each MoE block's input (the normed hidden states) and output (routed + shared) of a step.
 */
@FunctionalInterface
interface MoeTap {
  /** {@code in} and {@code out} are [rows, hidden]; valid only during the call. */
  void onMoe(int layer, int rows, float[] in, float[] out);
}
