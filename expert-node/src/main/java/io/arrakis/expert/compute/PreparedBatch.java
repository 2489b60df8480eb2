package io.arrakis.expert.compute;

import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.proto.v1.Tensor;
import java.util.List;

/**
 * A Compute call that passed its checks: the tokens, still as wire bytes, and for each assignment
 * the expert's kernel, rows and weights.
 */
public record PreparedBatch(String batchId, Tensor hiddenStates, int tokens, List<ExpertWork> work) {}
