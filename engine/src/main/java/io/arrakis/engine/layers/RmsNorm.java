package io.arrakis.engine.layers;

/** RMSNorm as transformers computes it in float32: {@code w ⊙ (x · rsqrt(mean(x²) + eps))}. */
public final class RmsNorm {
  private final float[] weight;
  private final float eps;

  public RmsNorm(float[] weight, double eps) {
    this.weight = weight;
    this.eps = (float) eps;
  }

  public int size() {
    return weight.length;
  }

  /**
   * Normalises {@code rows} rows of {@code weight.length} values, {@code stride} apart, from x into
   * out.
   */
  public void apply(float[] x, int xOff, float[] out, int outOff, int rows, int stride) {
    int n = weight.length;
    for (int r = 0; r < rows; r++) {
      int xa = xOff + r * stride;
      int oa = outOff + r * stride;
      double sum = 0;
      for (int i = 0; i < n; i++) {
        float v = x[xa + i];
        sum += v * v;
      }
      float inv = (float) (1.0 / Math.sqrt((float) (sum / n) + eps));
      for (int i = 0; i < n; i++) {
        out[oa + i] = weight[i] * (x[xa + i] * inv);
      }
    }
  }

  /** Normalises {@code rows} contiguous rows of x into out. */
  public void apply(float[] x, float[] out, int rows) {
    apply(x, 0, out, 0, rows, weight.length);
  }
}
