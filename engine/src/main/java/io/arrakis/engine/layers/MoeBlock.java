package io.arrakis.engine.layers;

import io.arrakis.engine.tensor.Matrix;
import io.arrakis.model.gating.GateRule;
import io.arrakis.model.gating.Routing;

/**
 * The router side of an MoE block: the gate (logits {@code x·Gᵀ} in float32, then the family's
 * rule) and the shared expert, if any. The routed experts are computed elsewhere ({@link
 * io.arrakis.engine.experts.RoutedExperts}); the block's output is routed + shared.
 */
public final class MoeBlock {
  private final Matrix gate;
  private final GateRule rule;
  private final FeedForward shared;

  public MoeBlock(Matrix gate, GateRule rule, FeedForward shared) {
    this.gate = gate;
    this.rule = rule;
    this.shared = shared;
  }

  public long weightBytes() {
    return gate.bytes() + (shared == null ? 0 : shared.weightBytes());
  }

  /** Bytes of the shared expert (0 when none). */
  public long sharedBytes() {
    return shared == null ? 0 : shared.weightBytes();
  }

  public Routing route(float[] h, int n) {
    float[] logits = new float[n * gate.rows()];
    gate.apply(h, n, logits);
    return rule.route(logits, n, gate.rows());
  }

  public boolean hasShared() {
    return shared != null;
  }

  /** The shared expert's output [n, d] (left untouched when there is none). */
  public void shared(float[] h, int n, float[] out) {
    if (shared != null) {
      shared.apply(h, n, out);
    }
  }
}
