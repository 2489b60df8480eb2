package io.arrakis.model.moe;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The in-process MoE layer that the cluster must reproduce: gate, then every chosen expert in
 * ascending expert order, weighted and summed per token.
 */
public final class ReferenceMoe {
  private final Gate gate;
  private final List<ExpertKernel> experts;

  public ReferenceMoe(Gate gate, List<ExpertKernel> experts) {
    if (experts.size() != gate.experts()) {
      throw new IllegalArgumentException(
          "gate has " + gate.experts() + " experts, got " + experts.size() + " kernels");
    }
    this.gate = gate;
    this.experts = List.copyOf(experts);
  }

  /** Loads a layer of a model with all its experts. */
  public static ReferenceMoe load(MoeModel model, int layer) throws IOException {
    List<ExpertKernel> kernels = new ArrayList<>();
    for (int e = 0; e < model.config().numExperts(); e++) {
      kernels.add(model.expert(layer, e));
    }
    return new ReferenceMoe(model.gate(layer), kernels);
  }

  /** The layer's output and routing for {@code x} [T, d]. */
  public Result forward(INDArray x) {
    Routing routing = gate.route(x);
    return new Result(MoeCombiner.combineOnce(x, plan(routing, experts)), routing);
  }

  /** Groups a routing into one work item per chosen expert, ascending expert id. */
  public static List<ExpertWork> plan(Routing routing, List<ExpertKernel> experts) {
    int[] counts = new int[experts.size()];
    for (int id : routing.ids()) {
      counts[id]++;
    }
    int[][] rows = new int[experts.size()][];
    float[][] weights = new float[experts.size()][];
    for (int e = 0; e < experts.size(); e++) {
      rows[e] = new int[counts[e]];
      weights[e] = new float[counts[e]];
    }
    int[] fill = new int[experts.size()];
    for (int t = 0; t < routing.tokens(); t++) {
      for (int r = 0; r < routing.k(); r++) {
        int e = routing.expert(t, r);
        rows[e][fill[e]] = t;
        weights[e][fill[e]++] = routing.weight(t, r);
      }
    }
    List<ExpertWork> work = new ArrayList<>();
    for (int e = 0; e < experts.size(); e++) {
      if (counts[e] > 0) {
        work.add(new ExpertWork(experts.get(e), rows[e], weights[e]));
      }
    }
    return work;
  }

  public Gate gate() {
    return gate;
  }

  /** Output [T, d] and the routing that produced it. */
  public record Result(INDArray output, Routing routing) {}
}
