package io.arrakis.engine.layers;

import io.arrakis.engine.tensor.Matrix;
import io.arrakis.model.config.ArchConfig;

/**
 * Grouped-query attention (Mixtral, Qwen2-MoE with q/k/v biases, Qwen3-MoE with per-head RMSNorm on
 * q and k before RoPE): each of the H query heads reads key/value head {@code h / (H / KV)}.
 */
public final class GqaAttention implements Attention {
  private final Matrix q;
  private final Matrix k;
  private final Matrix v;
  private final Matrix o;
  private final RmsNorm qNorm;
  private final RmsNorm kNorm;
  private final Rope rope;
  private final int heads;
  private final int kvHeads;
  private final int headDim;
  private final float scale;

  /** The layer's projections; {@code qNorm}/{@code kNorm} null unless the family normalises heads. */
  public GqaAttention(ArchConfig.Attention spec, Matrix q, Matrix k, Matrix v, Matrix o, RmsNorm qNorm, RmsNorm kNorm,
      Rope rope) {
    this.q = q;
    this.k = k;
    this.v = v;
    this.o = o;
    this.qNorm = qNorm;
    this.kNorm = kNorm;
    this.rope = rope;
    this.heads = spec.heads();
    this.kvHeads = spec.kvHeads();
    this.headDim = spec.headDim();
    this.scale = (float) spec.softmaxScale();
  }

  @Override
  public int cacheRowWidth() {
    return 2 * kvHeads * headDim;
  }

  @Override
  public long weightBytes() {
    return q.bytes() + k.bytes() + v.bytes() + o.bytes();
  }

  @Override
  public void forward(float[] h, float[] out, float[] cache, StepContext ctx) {
    int n = ctx.rows();
    int qw = heads * headDim;
    int kw = kvHeads * headDim;
    float[] qs = new float[n * qw];
    float[] ks = new float[n * kw];
    float[] vs = new float[n * kw];
    q.apply(h, n, qs, ctx.scratch());
    k.apply(h, n, ks, ctx.scratch());
    v.apply(h, n, vs, ctx.scratch());
    if (qNorm != null) {
      qNorm.apply(qs, qs, n * heads);
      kNorm.apply(ks, ks, n * kvHeads);
    }
    float[] tmp = new float[headDim];
    float[][] table = ctx.ropeTable();
    for (int r = 0; r < n; r++) {
      rope.apply(qs, r * qw, heads, headDim, table, r, tmp);
      rope.apply(ks, r * kw, kvHeads, headDim, table, r, tmp);
    }
    int width = cacheRowWidth();
    for (int r = 0; r < n; r++) {
      int at = ctx.cacheRow(r) * width;
      System.arraycopy(ks, r * kw, cache, at, kw);
      System.arraycopy(vs, r * kw, cache, at + kw, kw);
    }
    float[] attn = new float[n * qw];
    int group = heads / kvHeads;
    for (int c = 0; c < ctx.chunks(); c++) {
      int[] context = ctx.context(c);
      float[] scores = new float[context.length];
      for (int r = ctx.chunkStart(c); r < ctx.chunkStart(c) + ctx.chunkRows(c); r++) {
        int len = ctx.position(r) + 1;
        for (int hd = 0; hd < heads; hd++) {
          int qo = r * qw + hd * headDim;
          int ko = (hd / group) * headDim;
          for (int t = 0; t < len; t++) {
            scores[t] = Kernels.dot(qs, qo, cache, context[t] * width + ko, headDim) * scale;
          }
          Kernels.softmax(scores, len);
          int vo = kw + ko;
          for (int t = 0; t < len; t++) {
            Kernels.axpy(scores[t], cache, context[t] * width + vo, attn, qo, headDim);
          }
        }
      }
    }
    o.apply(attn, n, out, ctx.scratch());
  }
}
