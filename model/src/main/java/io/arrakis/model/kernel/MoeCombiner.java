package io.arrakis.model.kernel;

import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Runs a batch through several experts and sums the weighted outputs per row: row i of the result
 * is Σ weight × expert(x_i) over the work items that list i, added in list order. Shared by the
 * in-process reference and the expert node so both compute with the same operations.
 */
public final class MoeCombiner {
  private MoeCombiner() {}

  /**
   * @param x the batch [N, d], FLOAT
   * @return [N, d] partial sums (allocated in the active workspace, if any)
   */
  public static INDArray combine(INDArray x, List<ExpertWork> work) {
    long n = x.size(0);
    INDArray out = Nd4j.zeros(DataType.FLOAT, n, x.size(1));
    for (ExpertWork w : work) {
      if (w.rows().length == 0) {
        continue;
      }
      INDArray xe = isIdentity(w.rows(), n) ? x : Nd4j.pullRows(x, 1, w.rows());
      INDArray ye = w.kernel().apply(xe);
      ye.muliColumnVector(Nd4j.createFromArray(w.weights()).reshape(w.rows().length, 1));
      Nd4j.exec(DynamicCustomOp.builder("scatter_add")
          .addInputs(out, Nd4j.createFromArray(w.rows()), ye)
          .addOutputs(out)
          .callInplace(true)
          .build());
    }
    return out;
  }

  private static boolean isIdentity(int[] rows, long n) {
    if (rows.length != n) {
      return false;
    }
    for (int i = 0; i < rows.length; i++) {
      if (rows[i] != i) {
        return false;
      }
    }
    return true;
  }
}
