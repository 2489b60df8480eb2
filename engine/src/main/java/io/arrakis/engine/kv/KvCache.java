package io.arrakis.engine.kv;

/**
 * The cache's memory: for each layer, one row per cached token in fixed-size blocks. A GQA row is
 * {@code [K (kvHeads·headDim) | V (kvHeads·headDim)]}; an MLA row is {@code [latent (kv_lora_rank)
 * | rope key (qk_rope_head_dim)]}, the compressed form, not full keys and values. Rows are
 * addressed through {@link BlockManager#row}.
 */
public final class KvCache {
  private final BlockManager blocks;
  private final float[][] layers;
  private final int rowWidth;

  public KvCache(int numLayers, int rowWidth, int totalBlocks, int blockSize) {
    long floats = (long) totalBlocks * blockSize * rowWidth;
    if (floats > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          "a layer's cache of " + floats + " floats is too large; lower the budget");
    }
    this.blocks = new BlockManager(totalBlocks, blockSize);
    this.rowWidth = rowWidth;
    this.layers = new float[numLayers][(int) floats];
  }

  /** Blocks that fit {@code budgetBytes} for this row width (at least one). */
  public static int blocksFor(long budgetBytes, int numLayers, int rowWidth, int blockSize) {
    long perBlock = (long) numLayers * blockSize * rowWidth * Float.BYTES;
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, budgetBytes / perBlock));
  }

  public BlockManager blocks() {
    return blocks;
  }

  public int rowWidth() {
    return rowWidth;
  }

  /** The storage of one layer: row r starts at {@code r · rowWidth}. */
  public float[] layer(int l) {
    return layers[l];
  }

  public long bytes() {
    return (long) layers.length * (layers.length == 0 ? 0 : layers[0].length) * Float.BYTES;
  }
}
