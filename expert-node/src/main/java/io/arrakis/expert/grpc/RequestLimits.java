package io.arrakis.expert.grpc;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.arrakis.security.WireLimits;

/**
 * What the expert node's requests may carry, checked before they are parsed: a tensor's shape, a
 * batch id, and no more assignments, rows and weights, or experts to load, than a valid request
 * has.
 */
public final class RequestLimits {
  /** Tensor rank accepted at most (Compute needs 2). */
  public static final int MAX_RANK = 8;

  /** Longest batch id (it is echoed in the answer and in logs). */
  public static final int MAX_BATCH_ID_BYTES = 256;

  private RequestLimits() {}

  /**
   * What a valid Compute request to a node of {@code model} can unpack to, checked before parsing.
   *
   * @param maxBatchTokens rows per call: an assignment lists each at most once
   */
  public static WireLimits of(int maxBatchTokens, ModelConfig model) {
    int experts = model.numLayers() * model.numExperts();
    return WireLimits.builder()
        .maxCount(Tensor.getDescriptor().findFieldByNumber(Tensor.SHAPE_FIELD_NUMBER), MAX_RANK)
        .maxBytes(
            ComputeRequest.getDescriptor().findFieldByNumber(ComputeRequest.BATCH_ID_FIELD_NUMBER),
            MAX_BATCH_ID_BYTES)
        .maxCount(
            ComputeRequest.getDescriptor()
                .findFieldByNumber(ComputeRequest.ASSIGNMENTS_FIELD_NUMBER),
            experts)
        .maxCount(
            Assignment.getDescriptor().findFieldByNumber(Assignment.ROWS_FIELD_NUMBER),
            maxBatchTokens)
        .maxCount(
            Assignment.getDescriptor().findFieldByNumber(Assignment.WEIGHTS_FIELD_NUMBER),
            maxBatchTokens)
        .maxCount(
            LoadExpertsRequest.getDescriptor()
                .findFieldByNumber(LoadExpertsRequest.EXPERTS_FIELD_NUMBER),
            experts)
        .maxCount(
            UnloadExpertsRequest.getDescriptor()
                .findFieldByNumber(UnloadExpertsRequest.EXPERTS_FIELD_NUMBER),
            experts)
        .build();
  }
}
