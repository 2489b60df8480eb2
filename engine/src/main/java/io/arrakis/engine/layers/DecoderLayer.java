package io.arrakis.engine.layers;

/**
 * One decoder layer: {@code x += attention(norm(x))}, then {@code x += mlp(norm(x))} where the MLP
 * is dense or an MoE block.
 *
 * @param moe the MoE block, or null for a dense layer
 * @param dense the dense MLP, or null for an MoE layer
 */
public record DecoderLayer(
    int index,
    RmsNorm inputNorm,
    Attention attention,
    RmsNorm postNorm,
    MoeBlock moe,
    FeedForward dense) {

  public boolean isMoe() {
    return moe != null;
  }

  public long weightBytes() {
    return attention.weightBytes()
        + (moe != null ? moe.weightBytes() : dense.weightBytes())
        + 8L * inputNorm.size();
  }
}
