package io.arrakis.router.request;

import io.arrakis.proto.v1.Tensor;

/**
 * One MoE layer's tokens to fan out over the expert nodes and add back up: what a Forward call (or
 * any other caller of the router's actors) hands the guardian, already checked (layer, dtype, shape,
 * sizes). Answered exactly once with a {@link LayerOutcome}.
 *
 * @param requestId names the request in errors (bounded by the caller)
 * @param layer an MoE layer of the model
 * @param hiddenStates FLOAT32 or BFLOAT16 [tokens, d]
 * @param deadlineNanos when the caller stops waiting (System.nanoTime)
 * @param startNanos when it arrived
 * @param cancellation how the caller gives up early
 */
public record LayerJob(String requestId, int layer, Tensor hiddenStates, int tokens, long deadlineNanos,
    long startNanos, Cancellation cancellation) {}
