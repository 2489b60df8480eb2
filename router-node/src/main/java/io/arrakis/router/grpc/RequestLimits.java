package io.arrakis.router.grpc;

import io.arrakis.model.tokenizer.ChatTemplateLimits;
import io.arrakis.proto.v1.ChatMessages;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.Placement;
import io.arrakis.proto.v1.PlacementNode;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.proto.v1.TokenIds;
import io.arrakis.router.RouterSettings;
import io.arrakis.router.serve.ServeSettings;
import io.arrakis.security.WireLimits;

/**
 * What the router's requests may carry, checked before they are parsed: a tensor's shape, a request
 * id, a placement's nodes and experts, a Generate call's prompt ids, chat messages and stop
 * strings, each within what a valid request needs.
 */
public final class RequestLimits {
  /** Tensor rank accepted at most (Forward needs 2). */
  public static final int MAX_RANK = 8;

  /** Longest node id or address in a placement. */
  public static final int MAX_NAME_BYTES = 256;

  /** Most nodes in one placement. */
  public static final int MAX_NODES = 65_536;

  private RequestLimits() {}

  /**
   * What a valid request to the router can unpack to, checked before parsing.
   *
   * @param experts experts of the model in all (MoE layers x experts per layer): the most one node
   *     can hold
   * @param serve the stop strings a Generate call may carry
   * @param contextTokens the most prompt token ids a Generate call may carry (0: no Generate)
   */
  public static WireLimits of(int experts, ServeSettings serve, int contextTokens) {
    return WireLimits.builder()
        .maxBytes(
            GenerateRequest.getDescriptor()
                .findFieldByNumber(GenerateRequest.REQUEST_ID_FIELD_NUMBER),
            RouterSettings.MAX_REQUEST_ID_BYTES)
        .maxCount(
            TokenIds.getDescriptor().findFieldByNumber(TokenIds.IDS_FIELD_NUMBER),
            Math.max(1, contextTokens))
        .maxCount(
            ChatMessages.getDescriptor().findFieldByNumber(ChatMessages.MESSAGES_FIELD_NUMBER),
            ChatTemplateLimits.DEFAULT.maxMessages())
        .maxCount(
            SamplingParams.getDescriptor().findFieldByNumber(SamplingParams.STOP_FIELD_NUMBER),
            serve.maxStopStrings())
        // a UTF-16 unit takes at most 3 bytes of UTF-8; the exact length is checked once parsed
        .maxBytes(
            SamplingParams.getDescriptor().findFieldByNumber(SamplingParams.STOP_FIELD_NUMBER),
            3 * serve.maxStopLength())
        .maxCount(Tensor.getDescriptor().findFieldByNumber(Tensor.SHAPE_FIELD_NUMBER), MAX_RANK)
        .maxBytes(
            ForwardRequest.getDescriptor()
                .findFieldByNumber(ForwardRequest.REQUEST_ID_FIELD_NUMBER),
            RouterSettings.MAX_REQUEST_ID_BYTES)
        .maxCount(
            Placement.getDescriptor().findFieldByNumber(Placement.NODES_FIELD_NUMBER), MAX_NODES)
        .maxCount(
            PlacementNode.getDescriptor().findFieldByNumber(PlacementNode.EXPERTS_FIELD_NUMBER),
            experts)
        .maxBytes(
            PlacementNode.getDescriptor().findFieldByNumber(PlacementNode.ID_FIELD_NUMBER),
            MAX_NAME_BYTES)
        .maxBytes(
            PlacementNode.getDescriptor().findFieldByNumber(PlacementNode.ADDRESS_FIELD_NUMBER),
            MAX_NAME_BYTES)
        .build();
  }
}
