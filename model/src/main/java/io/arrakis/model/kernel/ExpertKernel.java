package io.arrakis.model.kernel;

import io.arrakis.model.tensor.NdArrays;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Swish;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One SwiGLU expert, {@code Y = (silu(X·W1ᵀ) ⊙ (X·W3ᵀ))·W2ᵀ}, in float32 on ND4J's arrays and
 * OpenBLAS. The weights are transposed once, at load, into c-order matrices so that every call is
 * three plain products with no transposes or copies of weights: GEMMs for a batch of rows, GEMVs for
 * a single row (which is bound by reading the weights, and a GEMV reads them once without packing).
 */
public final class ExpertKernel {
  private final INDArray w1t; // [d, ff]
  private final INDArray w3t; // [d, ff]
  private final INDArray w2t; // [ff, d]
  // the arrays' native memory, fetched once: the arrays above keep it alive
  private final FloatPointer w1p;
  private final FloatPointer w3p;
  private final FloatPointer w2p;
  private final int d;
  private final int ff;

  private ExpertKernel(INDArray w1t, INDArray w3t, INDArray w2t) {
    this.w1t = w1t;
    this.w3t = w3t;
    this.w2t = w2t;
    this.w1p = Blas.floats(w1t);
    this.w3p = Blas.floats(w3t);
    this.w2p = Blas.floats(w2t);
    this.d = Math.toIntExact(w1t.size(0));
    this.ff = Math.toIntExact(w1t.size(1));
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
          + java.util.Arrays.toString(w1.shape()) + ", " + java.util.Arrays.toString(w3.shape()) + ", "
          + java.util.Arrays.toString(w2.shape()));
    }
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return new ExpertKernel(
          w1.castTo(DataType.FLOAT).transpose().dup('c'),
          w3.castTo(DataType.FLOAT).transpose().dup('c'),
          w2.castTo(DataType.FLOAT).transpose().dup('c'));
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
    return (w1t.length() + w3t.length() + w2t.length()) * 4;
  }

  /** The expert's output [n, d] for tokens {@code x} [n, d] (allocated in the active workspace, if any). */
  public INDArray apply(INDArray x) {
    long m = x.size(0);
    INDArray y = Nd4j.create(DataType.FLOAT, m, hiddenSize());
    applyInto(NdArrays.denseC(x.castTo(DataType.FLOAT)), Nd4j.create(DataType.FLOAT, m, ffnSize()),
        Nd4j.create(DataType.FLOAT, m, ffnSize()), y);
    return y;
  }

  /**
   * The expert's output for tokens {@code x} [m, d] written into {@code y} [m, d], using {@code a}
   * and {@code b} [m, ff] as scratch (all dense c-order FLOAT at offset 0); allocates no native memory.
   */
  void applyInto(INDArray x, INDArray a, INDArray b, INDArray y) {
    int m = Math.toIntExact(x.size(0));
    FloatPointer xp = Blas.floats(x);
    FloatPointer ap = Blas.floats(a);
    FloatPointer bp = Blas.floats(b);
    FloatPointer yp = Blas.floats(y);
    if (m == 1) {
      Blas.gemv(d, ff, w1p, xp, ap);
      Blas.gemv(d, ff, w3p, xp, bp);
    } else {
      Blas.gemm(m, ff, d, xp, w1p, ap);
      Blas.gemm(m, ff, d, xp, w3p, bp);
    }
    Nd4j.exec(new Swish(a, a));
    a.muli(b);
    if (m == 1) {
      Blas.gemv(ff, d, w2p, ap, yp);
    } else {
      Blas.gemm(m, d, ff, ap, w2p, yp);
    }
  }
}
