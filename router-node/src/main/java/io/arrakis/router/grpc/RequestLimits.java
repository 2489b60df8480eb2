package io.arrakis.router.grpc;

import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.Placement;
import io.arrakis.proto.v1.PlacementNode;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.RouterSettings;
import io.arrakis.security.WireLimits;

/**
 * What the router's requests may carry, checked before they are parsed: a tensor's shape, a request
 * id, and a placement's nodes and experts, each within what a valid request needs.
 */
public final class RequestLimits {
  /** Tensor rank accepted at most (Forward needs 2). */
  public static final int MAX_RANK = 8;
  /** Longest node id or address in a placement. */
  public static final int MAX_NAME_BYTES = 256;
  /** Most nodes in one placement. */
  public static final int MAX_NODES = 65_536;

  private RequestLimits() {}

  /** @param experts experts of the model in all (MoE layers x experts per layer): the most one node can hold */
  public static WireLimits of(int experts) {
    return WireLimits.builder()
        .maxCount(Tensor.getDescriptor().findFieldByNumber(Tensor.SHAPE_FIELD_NUMBER), MAX_RANK)
        .maxBytes(ForwardRequest.getDescriptor().findFieldByNumber(ForwardRequest.REQUEST_ID_FIELD_NUMBER),
            RouterSettings.MAX_REQUEST_ID_BYTES)
        .maxCount(Placement.getDescriptor().findFieldByNumber(Placement.NODES_FIELD_NUMBER), MAX_NODES)
        .maxCount(PlacementNode.getDescriptor().findFieldByNumber(PlacementNode.EXPERTS_FIELD_NUMBER), experts)
        .maxBytes(PlacementNode.getDescriptor().findFieldByNumber(PlacementNode.ID_FIELD_NUMBER), MAX_NAME_BYTES)
        .maxBytes(PlacementNode.getDescriptor().findFieldByNumber(PlacementNode.ADDRESS_FIELD_NUMBER), MAX_NAME_BYTES)
        .build();
  }
}
