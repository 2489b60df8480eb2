package io.arrakis.engine.experts;

import io.arrakis.model.gating.Routing;
import java.util.concurrent.CompletionStage;

/**
 * Where an MoE layer's routed experts are computed: in process ({@link LocalExperts}) or, on the
 * cluster, by expert nodes over gRPC. The runtime assumes nothing else: it hands a micro-batch's
 * rows off and goes on with other work (another micro-batch's attention, this one's shared expert)
 * until the stage completes.
 */
public interface RoutedExperts {
  /**
   * Starts computing, for each token t of {@code x} [routing.tokens(), hidden] (row-major), {@code
   * out[t] = Σ_r routing.weight(t, r) · expert(routing.expert(t, r))(x[t])} of MoE layer {@code
   * layer}. The caller neither reads {@code out} nor changes {@code x} until the returned stage
   * completes; the implementation writes all of {@code out} before completing it normally. A
   * failure completes the stage exceptionally.
   */
  CompletionStage<Void> compute(int layer, float[] x, Routing routing, float[] out);
}
