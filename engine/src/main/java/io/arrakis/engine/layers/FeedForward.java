package io.arrakis.engine.layers;

import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import java.util.List;

/**
 * A SwiGLU MLP run on the router side (a dense layer's MLP, a shared expert) with the expert
 * kernel: {@code down(silu(gate·x) ⊙ up·x)}, optionally scaled per row by {@code sigmoid(g·x)}
 * (Qwen2's shared expert gate).
 */
public final class FeedForward {
  private final ExpertKernel kernel;
  private final float[] gate;
  private final MoeCombiner combiner = new MoeCombiner();

  /** {@code gate} [hidden] or null. */
  public FeedForward(ExpertKernel kernel, float[] gate) {
    this.kernel = kernel;
    this.gate = gate;
  }

  public long weightBytes() {
    return kernel.weightBytes() + (gate == null ? 0 : gate.length * 4L);
  }

  /** A new [n, d] output for x [n, d]. */
  public float[] applied(float[] x, int n) {
    float[] out = new float[x.length];
    apply(x, n, out);
    return out;
  }

  /** out [n, d] for x [n, d]. */
  public void apply(float[] x, int n, float[] out) {
    int d = (int) kernel.hiddenSize();
    int[] rows = new int[n];
    float[] weights = new float[n];
    for (int r = 0; r < n; r++) {
      rows[r] = r;
      if (gate == null) {
        weights[r] = 1f;
      } else {
        float logit = 0;
        for (int i = 0; i < d; i++) {
          logit += gate[i] * x[r * d + i];
        }
        weights[r] = (float) (1.0 / (1.0 + Math.exp(-logit)));
      }
    }
    synchronized (combiner) {
      combiner.combine(x, n, d, List.of(new ExpertWork(kernel, rows, weights)), out);
    }
  }
}
