package io.arrakis.router.grpc;

import io.arrakis.model.placement.Placement;

/** Test access to the placement conversions. */
public final class ClusterServiceAccess {
  private ClusterServiceAccess() {}

  public static io.arrakis.proto.v1.Placement toProto(Placement p) {
    return ClusterService.toProto(p);
  }
}
