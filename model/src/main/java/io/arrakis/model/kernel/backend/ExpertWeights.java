package io.arrakis.model.kernel.backend;

/**
 * One SwiGLU expert's weights as Hugging Face checkpoints store them, {@code Y = (silu(X·W1ᵀ) ⊙
 * (X·W3ᵀ))·W2ᵀ}: gate (w1, gate_proj) and up (w3, up_proj) [ff, d], down (w2, down_proj) [d, ff].
 */
public record ExpertWeights(
    int hiddenSize, int ffnSize, WeightTensor gate, WeightTensor up, WeightTensor down) {
  public ExpertWeights {
    if (!shaped(gate, ffnSize, hiddenSize)
        || !shaped(up, ffnSize, hiddenSize)
        || !shaped(down, hiddenSize, ffnSize)) {
      throw new IllegalArgumentException(
          "expert weights must be gate and up ["
              + ffnSize
              + ", "
              + hiddenSize
              + "] and down ["
              + hiddenSize
              + ", "
              + ffnSize
              + "]; got ["
              + gate.rows()
              + ", "
              + gate.cols()
              + "], ["
              + up.rows()
              + ", "
              + up.cols()
              + "], ["
              + down.rows()
              + ", "
              + down.cols()
              + "]");
    }
  }

  private static boolean shaped(WeightTensor t, long rows, long cols) {
    return t.rows() == rows && t.cols() == cols;
  }

  /** Bytes of the three matrices in bf16. */
  public long bf16Bytes() {
    return 3L * hiddenSize * ffnSize * 2;
  }
}
