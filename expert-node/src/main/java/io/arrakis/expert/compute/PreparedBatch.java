package io.arrakis.expert.compute;

import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.Tensor;
import java.util.List;

/**
 * A Compute call that passed its checks: the tokens, still as wire bytes, and for each assignment
 * the backend's expert, rows and weights. {@code experts.get(i)} names the expert of {@code
 * work.get(i)}; the backend's expert does not know its own id, and metrics count tokens per expert.
 */
public record PreparedBatch(
    String batchId,
    Tensor hiddenStates,
    int tokens,
    List<BackendWork> work,
    List<ExpertId> experts) {
  public PreparedBatch {
    if (work.size() != experts.size()) {
      throw new IllegalArgumentException(
          "work and experts differ in length: " + work.size() + " vs " + experts.size());
    }
  }
}
