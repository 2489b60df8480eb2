package io.arrakis.engine.layers;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

import io.arrakis.engine.tensor.Matrix;
import io.arrakis.model.config.ArchConfig;
import java.util.Arrays;
import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * Grouped-query attention (Mixtral, Qwen2-MoE with q/k/v biases, Qwen3-MoE with per-head RMSNorm on
 * q and k before RoPE): each of the H query heads reads key/value head {@code h / (H / KV)}; a
 * layer with a sliding window attends to the last {@code window} positions only (the cache keeps
 * them all).
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
  private final int window;

  /**
   * The layer's projections; {@code qNorm}/{@code kNorm} null unless the family normalises heads;
   * {@code window} the keys a query sees through a sliding window (0: all before it).
   */
  public GqaAttention(
      ArchConfig.Attention spec,
      int window,
      Matrix q,
      Matrix k,
      Matrix v,
      Matrix o,
      RmsNorm qNorm,
      RmsNorm kNorm,
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
    this.window = window;
  }

  /** The first of a query's {@code visible} keys that it attends to. */
  private int firstKey(int visible) {
    return window > 0 ? Math.max(0, visible - window) : 0;
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
    q.apply(h, n, qs);
    k.apply(h, n, ks);
    v.apply(h, n, vs);
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
      if (ctx.chunkRows(c) >= BLAS_ROWS) {
        chunkByBlas(qs, cache, attn, ctx, c);
        continue;
      }
      float[] scores = new float[context.length];
      for (int r = ctx.chunkStart(c); r < ctx.chunkStart(c) + ctx.chunkRows(c); r++) {
        int len = ctx.position(r) + 1;
        int first = firstKey(len);
        for (int hd = 0; hd < heads; hd++) {
          int qo = r * qw + hd * headDim;
          int ko = (hd / group) * headDim;
          for (int t = first; t < len; t++) {
            scores[t - first] =
                Kernels.dot(qs, qo, cache, context[t] * width + ko, headDim) * scale;
          }
          Kernels.softmax(scores, len - first);
          int vo = kw + ko;
          for (int t = first; t < len; t++) {
            Kernels.axpy(scores[t - first], cache, context[t] * width + vo, attn, qo, headDim);
          }
        }
      }
    }
    o.apply(attn, n, out);
  }

  // a prefill chunk of this many rows or more runs its products through BLAS
  private static final int BLAS_ROWS = 8;

  /**
   * A chunk's attention as matrix products: per key/value head its cached keys and values gathered
   * into contiguous [context, headDim] blocks, then per query head {@code S = Q·Kᵀ} for the chunk's
   * rows, the causal softmax of each row, and {@code O = S·V}.
   */
  private void chunkByBlas(float[] qs, float[] cache, float[] attn, StepContext ctx, int c) {
    int[] context = ctx.context(c);
    int len = context.length;
    int m = ctx.chunkRows(c);
    int first = ctx.chunkStart(c);
    int qw = heads * headDim;
    int kw = kvHeads * headDim;
    int width = cacheRowWidth();
    int group = heads / kvHeads;
    float[] k = new float[len * headDim];
    float[] v = new float[len * headDim];
    float[] q = new float[m * headDim];
    float[] s = new float[m * len];
    float[] o = new float[m * headDim];
    for (int g = 0; g < kvHeads; g++) {
      for (int t = 0; t < len; t++) {
        System.arraycopy(cache, context[t] * width + g * headDim, k, t * headDim, headDim);
        System.arraycopy(cache, context[t] * width + kw + g * headDim, v, t * headDim, headDim);
      }
      for (int h = g * group; h < (g + 1) * group; h++) {
        for (int i = 0; i < m; i++) {
          System.arraycopy(qs, (first + i) * qw + h * headDim, q, i * headDim, headDim);
        }
        openblas_nolapack.cblas_sgemm(
            CblasRowMajor,
            CblasNoTrans,
            CblasTrans,
            m,
            len,
            headDim,
            scale,
            q,
            headDim,
            k,
            headDim,
            0f,
            s,
            len);
        for (int i = 0; i < m; i++) {
          int visible = ctx.position(first + i) + 1;
          int from = firstKey(visible);
          Kernels.softmax(s, i * len + from, visible - from);
          Arrays.fill(s, i * len, i * len + from, 0f);
          Arrays.fill(s, i * len + visible, (i + 1) * len, 0f);
        }
        openblas_nolapack.cblas_sgemm(
            CblasRowMajor,
            CblasNoTrans,
            CblasNoTrans,
            m,
            headDim,
            len,
            1f,
            s,
            len,
            v,
            headDim,
            0f,
            o,
            headDim);
        for (int i = 0; i < m; i++) {
          System.arraycopy(o, i * headDim, attn, (first + i) * qw + h * headDim, headDim);
        }
      }
    }
  }
}
