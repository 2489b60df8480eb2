package io.arrakis.model.kernel;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One SwiGLU expert, {@code Y = (silu(X·W1ᵀ) ⊙ (X·W3ᵀ))·W2ᵀ}, in float32. The weights are laid out
 * once, at load, as two {@link PanelMatrix}es: {@code [W1ᵀ | W3ᵀ]} side by side, so that the gate
 * and up projections are one product (the rows are read once, and every weight once per call), then
 * {@code W2ᵀ}. Each product streams its weights once for all the expert's rows, so a few rows cost
 * little more than one (the weight-bound case of decoding), and many rows run at the vector units'
 * rate with no per-call repacking (prefill).
 */
public final class ExpertKernel {
  private final PanelMatrix w13; // [d, 2 ff]: column j < ff is W1's row j, then W3's
  private final PanelMatrix w2; // [ff, d]
  private final int d;
  private final int ff;

  private ExpertKernel(PanelMatrix w13, PanelMatrix w2, int d, int ff) {
    this.w13 = w13;
    this.w2 = w2;
    this.d = d;
    this.ff = ff;
  }

  /**
   * Lays out an expert from its weights as Mixtral stores them: w1 and w3 [ff, d], w2 [d, ff],
   * FLOAT.
   */
  public static ExpertKernel fromHf(INDArray w1, INDArray w3, INDArray w2) {
    long ff = w1.size(0);
    long d = w1.size(1);
    if (w1.rank() != 2
        || w3.rank() != 2
        || w2.rank() != 2
        || w3.size(0) != ff
        || w3.size(1) != d
        || w2.size(0) != d
        || w2.size(1) != ff) {
      throw new IllegalArgumentException(
          "expert weights must be w1, w3 [ff, d] and w2 [d, ff]; got "
              + Arrays.toString(w1.shape())
              + ", "
              + Arrays.toString(w3.shape())
              + ", "
              + Arrays.toString(w2.shape()));
    }
    return fromHf(values(w1), values(w3), values(w2), Math.toIntExact(ff), Math.toIntExact(d));
  }

  private static float[] values(INDArray w) {
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return w.castTo(DataType.FLOAT).dup('c').data().asFloat();
    }
  }

  /**
   * Lays out an expert from row-major float32 weights as the Hub stores them, w1 and w3 [ff, d] and
   * w2 [d, ff].
   */
  public static ExpertKernel fromHf(float[] w1, float[] w3, float[] w2, int ff, int d) {
    if (w1.length != ff * d || w3.length != ff * d || w2.length != d * ff) {
      throw new IllegalArgumentException(
          "expert weights must be w1, w3 ["
              + ff
              + ", "
              + d
              + "] and w2 ["
              + d
              + ", "
              + ff
              + "]; got "
              + w1.length
              + ", "
              + w3.length
              + ", "
              + w2.length
              + " values");
    }
    float[] w13 = Arrays.copyOf(w1, 2 * ff * d);
    System.arraycopy(w3, 0, w13, ff * d, ff * d);
    return new ExpertKernel(
        PanelMatrix.fromOutIn(w13, 2 * ff, d), PanelMatrix.fromOutIn(w2, d, ff), d, ff);
  }

  public long hiddenSize() {
    return d;
  }

  public long ffnSize() {
    return ff;
  }

  /** Bytes of weights (float32, as the checkpoint's shapes give them). */
  public long weightBytes() {
    return 3L * d * ff * Float.BYTES;
  }

  /**
   * The expert's output [n, d] for tokens {@code x} [n, d] (allocated in the active workspace, if
   * any).
   */
  public INDArray apply(INDArray x) {
    int m = Math.toIntExact(x.size(0));
    float[] in = x.castTo(DataType.FLOAT).dup('c').data().asFloat();
    float[] y = new float[m * d];
    applyInto(in, m, new float[m * 2 * ff], y, new float[ff], new float[ff]);
    return Nd4j.create(y, new long[] {m, d}, 'c');
  }

  /**
   * The expert's output for the m rows of {@code x} [m, d] written into {@code y} [m, d], using
   * {@code gateUp} (at least m · 2 ff floats), {@code gate} and {@code up} (at least ff each) as
   * scratch; allocates nothing.
   */
  void applyInto(float[] x, int m, float[] gateUp, float[] y, float[] gate, float[] up) {
    w13.multiply(x, 0, d, m, gateUp, 0, 2 * ff);
    // h = silu(gate) ⊙ up over each row's gate half: the down product reads it with a row stride of
    // 2 ff
    SwiGlu.apply(gateUp, m, ff, gate, up);
    w2.multiply(gateUp, 0, 2 * ff, m, y, 0, d);
  }
}
