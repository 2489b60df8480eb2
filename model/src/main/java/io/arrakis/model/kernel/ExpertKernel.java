package io.arrakis.model.kernel;

import io.arrakis.model.tensor.NdArrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Swish;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One SwiGLU expert, {@code Y = (silu(X·W1ᵀ) ⊙ (X·W3ᵀ))·W2ᵀ}, in float32 on ND4J. The weights are
 * transposed once, at load, into c-order matrices so that every call is three plain GEMMs with no
 * transposes or copies of weights.
 */
public final class ExpertKernel {
  private final INDArray w1t; // [d, ff]
  private final INDArray w3t; // [d, ff]
  private final INDArray w2t; // [ff, d]

  private ExpertKernel(INDArray w1t, INDArray w3t, INDArray w2t) {
    this.w1t = w1t;
    this.w3t = w3t;
    this.w2t = w2t;
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
    return w1t.size(0);
  }

  public long ffnSize() {
    return w1t.size(1);
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
   * and {@code b} [m, ff] as scratch; allocates nothing.
   */
  void applyInto(INDArray x, INDArray a, INDArray b, INDArray y) {
    Nd4j.gemm(x, w1t, a, false, false, 1.0, 0.0);
    Nd4j.gemm(x, w3t, b, false, false, 1.0, 0.0);
    Nd4j.exec(new Swish(a, a));
    a.muli(b);
    Nd4j.gemm(a, w2t, y, false, false, 1.0, 0.0);
  }
}
