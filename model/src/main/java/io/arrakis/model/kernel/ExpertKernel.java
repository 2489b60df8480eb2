package io.arrakis.model.kernel;

import io.arrakis.model.tensor.NdArrays;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One SwiGLU expert, {@code Y = (silu(X·W1ᵀ) ⊙ (X·W3ᵀ))·W2ᵀ}, in float32 on ND4J's arrays and
 * OpenBLAS. The weights are laid out once, at load, as c-order matrices so that every call is two
 * plain products with no transposes or copies of weights: {@code [W1ᵀ | W3ᵀ]} side by side, so that
 * the gate and up projections are one product (the tokens are packed once, and a small batch makes
 * one call rather than two), then {@code W2ᵀ}. GEMMs for a batch of rows, GEMVs for a single row
 * (which is bound by reading the weights, and a GEMV reads them once without packing).
 */
public final class ExpertKernel {
  private final INDArray w13t; // [d, 2 ff]: row r is W1ᵀ's row r, then W3ᵀ's
  private final INDArray w2t; // [ff, d]
  // the arrays' native memory, fetched once: the arrays above keep it alive
  private final FloatPointer w13p;
  private final FloatPointer w2p;
  private final int d;
  private final int ff;

  private ExpertKernel(INDArray w13t, INDArray w2t) {
    this.w13t = w13t;
    this.w2t = w2t;
    this.w13p = Blas.floats(w13t);
    this.w2p = Blas.floats(w2t);
    this.d = Math.toIntExact(w13t.size(0));
    this.ff = Math.toIntExact(w2t.size(0));
  }

  /**
   * Lays out an expert from its weights as Mixtral stores them: w1 and w3 [ff, d], w2 [d, ff], FLOAT.
   */
  public static ExpertKernel fromHf(INDArray w1, INDArray w3, INDArray w2) {
    long ff = w1.size(0);
    long d = w1.size(1);
    if (w1.rank() != 2 || w3.rank() != 2 || w2.rank() != 2
        || w3.size(0) != ff || w3.size(1) != d || w2.size(0) != d || w2.size(1) != ff) {
      throw new IllegalArgumentException("expert weights must be w1, w3 [ff, d] and w2 [d, ff]; got "
          + Arrays.toString(w1.shape()) + ", " + Arrays.toString(w3.shape()) + ", "
          + Arrays.toString(w2.shape()));
    }
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return new ExpertKernel(
          Nd4j.concat(1, w1.castTo(DataType.FLOAT).transpose(), w3.castTo(DataType.FLOAT).transpose()).dup('c'),
          w2.castTo(DataType.FLOAT).transpose().dup('c'));
    }
  }

  /**
   * Lays out an expert from row-major float32 weights as the Hub stores them, w1 and w3 [ff, d] and
   * w2 [d, ff], transposing in one pass each (loading a large model this way is many times faster
   * than ND4J's strided concat and copy).
   */
  public static ExpertKernel fromHf(float[] w1, float[] w3, float[] w2, int ff, int d) {
    if (w1.length != ff * d || w3.length != ff * d || w2.length != d * ff) {
      throw new IllegalArgumentException("expert weights must be w1, w3 [" + ff + ", " + d + "] and w2 [" + d + ", " + ff
          + "]; got " + w1.length + ", " + w3.length + ", " + w2.length + " values");
    }
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      INDArray w13t = Nd4j.create(DataType.FLOAT, new long[] {d, 2L * ff}, 'c');
      INDArray w2t = Nd4j.create(DataType.FLOAT, new long[] {ff, d}, 'c');
      float[] t = new float[d * 2 * ff];
      transpose(w1, ff, d, t, 2 * ff, 0);
      transpose(w3, ff, d, t, 2 * ff, ff);
      w13t.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().put(t);
      t = new float[ff * d];
      transpose(w2, d, ff, t, d, 0);
      w2t.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().put(t);
      return new ExpertKernel(w13t, w2t);
    }
  }

  /** {@code dst[c·ldd + off + r] = src[r·cols + c]}, in 32×32 tiles so both sides stay in cache. */
  private static void transpose(float[] src, int rows, int cols, float[] dst, int ldd, int off) {
    final int tile = 32;
    for (int r0 = 0; r0 < rows; r0 += tile) {
      int r1 = Math.min(rows, r0 + tile);
      for (int c0 = 0; c0 < cols; c0 += tile) {
        int c1 = Math.min(cols, c0 + tile);
        for (int c = c0; c < c1; c++) {
          int at = c * ldd + off;
          for (int r = r0; r < r1; r++) {
            dst[at + r] = src[r * cols + c];
          }
        }
      }
    }
  }

  public long hiddenSize() {
    return d;
  }

  public long ffnSize() {
    return ff;
  }

  /** Bytes of weights held. */
  public long weightBytes() {
    return (w13t.length() + w2t.length()) * 4;
  }

  /** The expert's output [n, d] for tokens {@code x} [n, d] (allocated in the active workspace, if any). */
  public INDArray apply(INDArray x) {
    long m = x.size(0);
    INDArray y = Nd4j.create(DataType.FLOAT, m, hiddenSize());
    applyInto(NdArrays.denseC(x.castTo(DataType.FLOAT)), Nd4j.create(DataType.FLOAT, m, 2 * ffnSize()), y,
        new float[ff], new float[ff]);
    return y;
  }

  /**
   * The expert's output for tokens {@code x} [m, d] written into {@code y} [m, d], using
   * {@code gateUp} [m, 2 ff] (all dense c-order FLOAT at offset 0), {@code gate} and {@code up} (at
   * least ff floats each) as scratch; allocates no native memory.
   */
  void applyInto(INDArray x, INDArray gateUp, INDArray y, float[] gate, float[] up) {
    int m = Math.toIntExact(x.size(0));
    FloatPointer xp = Blas.floats(x);
    FloatPointer gp = Blas.floats(gateUp);
    FloatPointer yp = Blas.floats(y);
    if (m == 1) {
      Blas.gemv(d, 2 * ff, w13p, xp, gp);
    } else {
      Blas.gemm(m, 2 * ff, d, xp, d, w13p, gp);
    }
    // h = silu(gate) ⊙ up, over each row's gate half: the down product reads it with a row stride of 2 ff
    SwiGlu.apply(gateUp.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer(), m, ff, gate, up);
    if (m == 1) {
      Blas.gemv(ff, d, w2p, gp, yp);
    } else {
      Blas.gemm(m, d, ff, gp, 2 * ff, w2p, yp);
    }
  }
}
