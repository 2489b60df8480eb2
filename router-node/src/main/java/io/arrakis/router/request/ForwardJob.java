package io.arrakis.router.request;

import io.arrakis.proto.v1.ForwardRequest;

/**
 * A Forward call that passed the transport-side checks (layer, dtype, shape, sizes).
 *
 * @param request the call as received
 * @param tokens T
 * @param deadlineNanos when the client stops waiting (System.nanoTime)
 * @param startNanos when it arrived
 */
public record ForwardJob(ForwardRequest request, int tokens, long deadlineNanos, long startNanos) {}
