package io.arrakis.router.request;

import io.arrakis.model.gating.Routing;
import io.grpc.Status;

/** The single answer to a {@link LayerJob}. */
public sealed interface LayerOutcome {
  /**
   * The layer's routed experts computed for every token.
   *
   * @param output row-major [tokens, d]: the sum over each token's chosen experts of gate weight x
   *     expert output
   * @param routing the experts chosen per token and their gate weights
   */
  record Succeeded(float[] output, Routing routing) implements LayerOutcome {}

  record Failed(Status status) implements LayerOutcome {}
}
