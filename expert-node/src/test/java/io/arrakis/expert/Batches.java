package io.arrakis.expert;

import io.arrakis.model.gating.Routing;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import java.util.function.IntPredicate;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Builds Compute calls from a routing, the way a router does. */
final class Batches {
  private Batches() {}

  /**
   * One call carrying every token of {@code x} once, with the (expert, weight) pairs accepted by
   * {@code held}.
   */
  static ComputeRequest fromRouting(
      String id, int layer, INDArray x, Routing routing, int experts, IntPredicate held) {
    ComputeRequest.Builder req =
        ComputeRequest.newBuilder().setBatchId(id).setHiddenStates(TensorCodec.encodeFloat(x));
    for (int e = 0; e < experts; e++) {
      if (!held.test(e)) {
        continue;
      }
      Assignment.Builder a = Assignment.newBuilder().setLayer(layer).setExpert(e);
      for (int t = 0; t < routing.tokens(); t++) {
        for (int r = 0; r < routing.k(); r++) {
          if (routing.expert(t, r) == e) {
            a.addRows(t).addWeights(routing.weight(t, r));
          }
        }
      }
      if (a.getRowsCount() > 0) {
        req.addAssignments(a);
      }
    }
    return req.build();
  }
}
