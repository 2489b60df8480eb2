package io.arrakis.model.kernel.cuda;

import io.arrakis.model.tensor.Bf16;

/**
 * The synthetic weights that {@code fill_uniform} makes on the device, computed on the host: bf16
 * uniform in [-1/√K, 1/√K) from a hash of (seed, element index), so a benchmark's spot check can
 * recompute any expert's output without copying its weights back.
 */
public final class CudaSynthetic {
  private CudaSynthetic() {}

  /** The seed of one matrix of an expert ({@code which} 13 for W13, 2 for W2). */
  static long seed(long expertSeed, int which) {
    return expertSeed * 31 + which;
  }

  /** The bound of the uniform values of a matrix whose rows have {@code k} elements. */
  static float scale(int k) {
    return (float) (1 / Math.sqrt(k));
  }

  /** Element {@code index} (row-major) of W13 [2 ff, d] of the expert made with {@code seed}. */
  public static float w13(long seed, int d, long index) {
    return value(seed(seed, 13), index, scale(d));
  }

  /** Element {@code index} (row-major) of W2 [d, ff]. */
  public static float w2(long seed, int ff, long index) {
    return value(seed(seed, 2), index, scale(ff));
  }

  static float value(long seed, long index, float scale) {
    int h = mix32(seed * 0x9e3779b97f4a7c15L + index);
    float u = (h >>> 8) * (1.0f / 16777216.0f);
    return Bf16.round((2.0f * u - 1.0f) * scale);
  }

  private static int mix32(long z) {
    z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
    z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
    z = z ^ (z >>> 33);
    return (int) z;
  }
}
