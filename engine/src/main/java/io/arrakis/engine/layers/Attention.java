package io.arrakis.engine.layers;

/** A layer's self-attention over the KV cache. */
public interface Attention {
  /**
   * Writes the new rows' keys and values (or MLA latents) into this layer's {@code cache} storage,
   * then computes the attention output [N, hidden] of the normed input {@code h} [N, hidden] into
   * {@code out}.
   */
  void forward(float[] h, float[] out, float[] cache, StepContext ctx);

  /** Floats per token per layer in the KV cache. */
  int cacheRowWidth();

  /** Bytes of weights. */
  long weightBytes();

  /** Softmax-weighted causal attention helpers shared by GQA and MLA. */
  final class Kernels {
    private Kernels() {}

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
      float s0 = 0;
      float s1 = 0;
      float s2 = 0;
      float s3 = 0;
      int i = 0;
      for (; i + 3 < n; i += 4) {
        s0 += a[ao + i] * b[bo + i];
        s1 += a[ao + i + 1] * b[bo + i + 1];
        s2 += a[ao + i + 2] * b[bo + i + 2];
        s3 += a[ao + i + 3] * b[bo + i + 3];
      }
      for (; i < n; i++) {
        s0 += a[ao + i] * b[bo + i];
      }
      return (s0 + s1) + (s2 + s3);
    }

    /** In-place float32 softmax of {@code s[0 .. n)}. */
    static void softmax(float[] s, int n) {
      softmax(s, 0, n);
    }

    /** In-place float32 softmax of {@code s[from .. from + n)}. */
    static void softmax(float[] s, int from, int n) {
      float max = Float.NEGATIVE_INFINITY;
      for (int i = from; i < from + n; i++) {
        max = Math.max(max, s[i]);
      }
      float sum = 0;
      for (int i = from; i < from + n; i++) {
        float e = (float) Math.exp(s[i] - max);
        s[i] = e;
        sum += e;
      }
      for (int i = from; i < from + n; i++) {
        s[i] /= sum;
      }
    }

    /** {@code y[yo ..+n] += a · x[xo ..+n]}. */
    static void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
      for (int i = 0; i < n; i++) {
        y[yo + i] += a * x[xo + i];
      }
    }
  }
}
