package io.arrakis.model.gating;

import io.arrakis.model.tensor.NdArrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The router of one MoE layer: logits = X·Gᵀ on ND4J, then the family's {@link GateRule}. */
public final class Gate {
  private final INDArray weightT; // [d, E], laid out once so each call is one plain GEMM
  private final int experts;
  private final GateRule rule;

  /**
   * @param weight the gate's weight [E, d] as stored in the model
   */
  public Gate(INDArray weight, int topK, boolean renormalize) {
    this(weight, new GateRule.Softmax(topK, renormalize));
  }

  /**
   * @param weight the gate's weight [E, d] as stored in the model
   * @param rule how logits become experts and weights
   */
  public Gate(INDArray weight, GateRule rule) {
    if (weight.rank() != 2 || weight.dataType() != DataType.FLOAT) {
      throw new IllegalArgumentException("gate weight must be a FLOAT matrix [E, d]");
    }
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      this.weightT = weight.transpose().dup('c');
    }
    this.experts = (int) weight.size(0);
    this.rule = rule;
  }

  public int experts() {
    return experts;
  }

  public int hiddenSize() {
    return (int) weightT.size(0);
  }

  public int topK() {
    return rule.topK();
  }

  public GateRule rule() {
    return rule;
  }

  /**
   * Logits [T, E] for hidden states {@code x} [T, d] (allocated in the active workspace, if any). A
   * plain GEMM into a new array: ND4J's mmul op leaves several native temporaries per call for the
   * garbage collector, which a router calling this per request would pile up.
   */
  public INDArray logits(INDArray x) {
    INDArray out = Nd4j.create(DataType.FLOAT, x.size(0), experts);
    Nd4j.gemm(NdArrays.denseC(x.castTo(DataType.FLOAT)), weightT, out, false, false, 1.0, 0.0);
    return out;
  }

  /** Routes the tokens of {@code x} [T, d]. */
  public Routing route(INDArray x) {
    int tokens = (int) x.size(0);
    float[] logits = logits(x).data().asFloat();
    return rule.route(logits, tokens, experts);
  }
}
