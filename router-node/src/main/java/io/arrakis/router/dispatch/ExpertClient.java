package io.arrakis.router.dispatch;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.NodeDescription;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * One expert node as the dispatcher sees it: a batched compute call with a timeout. Free of
 * transport code so the dispatcher's rules can be tested on their own; {@link GrpcExpertClient} is
 * the real one. A failed stage carries a {@link io.grpc.StatusRuntimeException}.
 */
public interface ExpertClient extends AutoCloseable {
  /**
   * Computes one batch. Cancelling the returned future (the router no longer needs the answer)
   * cancels the call.
   */
  CompletableFuture<ComputeResponse> compute(ComputeRequest request, Duration timeout);

  /** What the node holds and accepts: hidden size, rows and bytes per call, compute dtype. */
  CompletionStage<NodeDescription> describe(Duration timeout);

  /**
   * Makes the node load these experts (no-op for those it holds); completes when they are ready.
   */
  CompletionStage<Void> load(List<ExpertId> experts, Duration timeout);

  /** Makes the node drop these experts. */
  CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout);

  /**
   * Whether the node's grpc.health.v1 status is SERVING; false (not a failure) when it cannot be
   * reached.
   */
  CompletionStage<Boolean> serving(Duration timeout);

  /**
   * Lets calls already made finish, then releases the connection; the router no longer uses this
   * node.
   */
  @Override
  default void close() {}
}
