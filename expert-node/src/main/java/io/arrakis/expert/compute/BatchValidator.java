package io.arrakis.expert.compute;

import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.kernel.backend.BackendExpert;
import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * Checks a Compute call against what the node holds before any work is queued: tensor dtype, shape
 * and byte count, experts held, row indices in range and unique per assignment, weights finite and
 * as many as rows. Each failure names the field.
 */
public final class BatchValidator {
  private final ExpertStore store;
  private final int maxBatchTokens;

  public BatchValidator(ExpertStore store, int maxBatchTokens) {
    this.store = store;
    this.maxBatchTokens = maxBatchTokens;
  }

  public PreparedBatch prepare(ComputeRequest req) throws TensorCheckException {
    int tokens =
        TensorChecks.checkActivations(
            "hidden_states", req.getHiddenStates(), store.hiddenSize(), maxBatchTokens);
    if (req.getAssignmentsCount() == 0) {
      throw invalid("assignments is empty: nothing to compute");
    }
    List<BackendWork> work = new ArrayList<>(req.getAssignmentsCount());
    List<ExpertId> experts = new ArrayList<>(req.getAssignmentsCount());
    for (int a = 0; a < req.getAssignmentsCount(); a++) {
      Assignment assignment = req.getAssignments(a);
      work.add(prepare(a, assignment, tokens));
      experts.add(new ExpertId(assignment.getLayer(), assignment.getExpert()));
    }
    return new PreparedBatch(req.getBatchId(), req.getHiddenStates(), tokens, work, experts);
  }

  private BackendWork prepare(int index, Assignment a, int tokens) throws TensorCheckException {
    String field = "assignments[" + index + "]";
    ExpertId id = new ExpertId(a.getLayer(), a.getExpert());
    BackendExpert expert =
        store
            .get(id)
            .orElseThrow(
                () ->
                    invalid(
                        field
                            + ": expert "
                            + a.getExpert()
                            + " of layer "
                            + a.getLayer()
                            + " is not held by this node"));
    if (a.getRowsCount() == 0) {
      throw invalid(field + ".rows is empty");
    }
    if (a.getWeightsCount() != a.getRowsCount()) {
      throw invalid(
          field
              + ".weights has "
              + a.getWeightsCount()
              + " entries but rows has "
              + a.getRowsCount());
    }
    int[] rows = new int[a.getRowsCount()];
    float[] weights = new float[a.getRowsCount()];
    BitSet seen = new BitSet(tokens);
    for (int i = 0; i < rows.length; i++) {
      int row = a.getRows(i);
      if (row < 0 || row >= tokens) {
        throw invalid(
            field
                + ".rows["
                + i
                + "] = "
                + Integer.toUnsignedString(row)
                + " is out of range 0.."
                + (tokens - 1));
      }
      if (seen.get(row)) {
        throw invalid(field + ".rows[" + i + "] = " + row + " appears twice");
      }
      seen.set(row);
      float w = a.getWeights(i);
      if (!Float.isFinite(w)) {
        throw invalid(field + ".weights[" + i + "] is not finite: " + w);
      }
      rows[i] = row;
      weights[i] = w;
    }
    return new BackendWork(expert, rows, weights);
  }

  private static TensorCheckException invalid(String message) {
    return new TensorCheckException(message, false);
  }
}
