package io.arrakis.engine.layers;

import io.arrakis.engine.tensor.Matrix;
import io.arrakis.model.config.ArchConfig;
import java.util.Arrays;

/**
 * DeepSeek's multi-head latent attention. The cache holds per token only the normed latent {@code c
 * = kv_a_layernorm(kv_a_proj[:r])} and the rotated shared rope key; attention runs in the latent
 * space with kv_b_proj absorbed: a head's score is {@code (q_nope·W_ukᵀ)·c + q_rope·k_rope} and its
 * value {@code W_uv·(Σ p·c)}, equal to transformers' expanded keys and values up to float rounding,
 * without expanding them per cached token.
 */
public final class MlaAttention implements Attention {
  private final Matrix qa;
  private final RmsNorm qaNorm;
  private final Matrix qb;
  private final Matrix kva;
  private final RmsNorm kvNorm;
  private final float[] kvb; // [H·(dn+dv), r] row-major
  private final Matrix o;
  private final Rope rope;
  private final int heads;
  private final int rank;
  private final int nope;
  private final int ropeDim;
  private final int vDim;
  private final float scale;

  /**
   * @param qa q_a_proj, or q_proj when the query is not compressed ({@code qaNorm} and {@code qb}
   *     null)
   */
  public MlaAttention(
      ArchConfig.Attention spec,
      Matrix qa,
      RmsNorm qaNorm,
      Matrix qb,
      Matrix kva,
      RmsNorm kvNorm,
      float[] kvb,
      Matrix o,
      Rope rope) {
    ArchConfig.Mla mla = spec.mla();
    this.qa = qa;
    this.qaNorm = qaNorm;
    this.qb = qb;
    this.kva = kva;
    this.kvNorm = kvNorm;
    this.kvb = kvb;
    this.o = o;
    this.rope = rope;
    this.heads = spec.heads();
    this.rank = mla.kvLoraRank();
    this.nope = mla.qkNopeHeadDim();
    this.ropeDim = mla.qkRopeHeadDim();
    this.vDim = mla.vHeadDim();
    this.scale = (float) spec.softmaxScale();
  }

  @Override
  public int cacheRowWidth() {
    return rank + ropeDim;
  }

  @Override
  public long weightBytes() {
    return qa.bytes()
        + (qb == null ? 0 : qb.bytes())
        + kva.bytes()
        + (long) kvb.length * Float.BYTES
        + o.bytes();
  }

  @Override
  public void forward(float[] h, float[] out, float[] cache, StepContext ctx) {
    int n = ctx.rows();
    int qHead = nope + ropeDim;
    int qw = heads * qHead;
    float[] qs = new float[n * qw];
    if (qb == null) {
      qa.apply(h, n, qs);
    } else {
      float[] a = new float[n * qa.rows()];
      qa.apply(h, n, a);
      qaNorm.apply(a, a, n);
      qb.apply(a, n, qs);
    }
    int width = cacheRowWidth();
    float[] kv = new float[n * width];
    kva.apply(h, n, kv);
    float[] tmp = new float[ropeDim];
    float[][] table = ctx.ropeTable();
    for (int r = 0; r < n; r++) {
      kvNorm.apply(kv, r * width, kv, r * width, 1, width);
      rope.apply(kv, r * width + rank, 1, ropeDim, table, r, tmp);
      rope.apply(qs, r * qw + nope, heads, qHead, table, r, tmp);
      System.arraycopy(kv, r * width, cache, ctx.cacheRow(r) * width, width);
    }
    float[] attn = new float[n * heads * vDim];
    float[] qLatent = new float[rank];
    float[] oLatent = new float[rank];
    int headRows = nope + vDim;
    for (int c = 0; c < ctx.chunks(); c++) {
      int[] context = ctx.context(c);
      float[] scores = new float[context.length];
      for (int r = ctx.chunkStart(c); r < ctx.chunkStart(c) + ctx.chunkRows(c); r++) {
        int len = ctx.position(r) + 1;
        for (int hd = 0; hd < heads; hd++) {
          int qo = r * qw + hd * qHead;
          int wk = hd * headRows * rank;
          Arrays.fill(qLatent, 0f);
          for (int j = 0; j < nope; j++) {
            Kernels.axpy(qs[qo + j], kvb, wk + j * rank, qLatent, 0, rank);
          }
          for (int t = 0; t < len; t++) {
            int at = context[t] * width;
            scores[t] =
                (Kernels.dot(qLatent, 0, cache, at, rank)
                        + Kernels.dot(qs, qo + nope, cache, at + rank, ropeDim))
                    * scale;
          }
          Kernels.softmax(scores, len);
          Arrays.fill(oLatent, 0f);
          for (int t = 0; t < len; t++) {
            Kernels.axpy(scores[t], cache, context[t] * width, oLatent, 0, rank);
          }
          int ao = (r * heads + hd) * vDim;
          int wv = wk + nope * rank;
          for (int j = 0; j < vDim; j++) {
            attn[ao + j] = Kernels.dot(oLatent, 0, kvb, wv + j * rank, rank);
          }
        }
      }
    }
    o.apply(attn, n, out);
  }
}
