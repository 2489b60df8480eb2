package io.arrakis.router.request;

import io.grpc.Status;

/** How a placement rollout ended. */
public sealed interface PlacementOutcome {
  /**
   * Routers now route by {@code version}; {@code loaded} experts were loaded, {@code unloading}
   * will be dropped.
   */
  record Applied(long version, int loaded, int unloading) implements PlacementOutcome {}

  record Refused(Status status) implements PlacementOutcome {}
}
