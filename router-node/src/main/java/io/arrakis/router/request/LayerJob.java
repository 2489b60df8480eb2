package io.arrakis.router.request;

import io.arrakis.model.gating.Routing;
import io.arrakis.proto.v1.Tensor;

/**
 * One MoE layer's tokens to fan out over the expert nodes and add back up: what a Forward call (or
 * any other caller of the router's actors) hands the guardian, already checked (layer, dtype,
 * shape, sizes). Answered exactly once with a {@link LayerOutcome}.
 *
 * @param requestId names the request in errors (bounded by the caller)
 * @param layer an MoE layer of the model
 * @param hiddenStates FLOAT32 or BFLOAT16 [tokens, d]
 * @param deadlineNanos when the caller stops waiting (System.nanoTime)
 * @param startNanos when it arrived
 * @param cancellation how the caller gives up early
 * @param routing null for a Forward call: the coordinator checks the values, gates them and adds
 *     the layer's shared expert, if any; else the experts a caller that ran the gate itself chose
 *     (the serving engine, which computes the shared expert meanwhile), the rows FLOAT32: the
 *     answer is the routed experts' sum alone
 */
public record LayerJob(
    String requestId,
    int layer,
    Tensor hiddenStates,
    int tokens,
    long deadlineNanos,
    long startNanos,
    Cancellation cancellation,
    Routing routing) {

  /** Whether the coordinator gates the rows (and adds the shared expert), as for a Forward call. */
  public boolean gatedHere() {
    return routing == null;
  }
}
