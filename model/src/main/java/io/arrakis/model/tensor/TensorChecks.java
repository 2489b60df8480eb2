package io.arrakis.model.tensor;

import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.FloatBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Checks on tensors arriving over the wire, before any work is done with them. Every message names
 * the field at fault.
 */
public final class TensorChecks {
  /** Shape entries an error message shows at most. */
  private static final int SHAPE_ECHO = 8;

  private TensorChecks() {}

  /**
   * Checks hidden states [T, d]: FLOAT32 or BFLOAT16, rank 2, 1 ≤ T ≤ maxTokens, d = hiddenSize and
   * a byte count that matches.
   *
   * @return T
   */
  public static int checkActivations(String field, Tensor t, int hiddenSize, int maxTokens)
      throws TensorCheckException {
    if (t.getDtype() != DType.FLOAT32 && t.getDtype() != DType.BFLOAT16) {
      throw invalid(
          field
              + ".dtype must be FLOAT32 or BFLOAT16, got "
              + t.getDtypeValue()
              + " ("
              + t.getDtype()
              + ")");
    }
    if (t.getShapeCount() != 2) {
      throw invalid(
          field
              + ".shape must be [tokens, "
              + hiddenSize
              + "], got rank "
              + t.getShapeCount()
              + " "
              + shape(t));
    }
    long tokens = t.getShape(0);
    long width = t.getShape(1);
    if (tokens <= 0) {
      throw invalid(field + ".shape[0] (tokens) must be positive, got " + tokens);
    }
    if (width != hiddenSize) {
      throw invalid(
          field + ".shape[1] must equal the hidden size " + hiddenSize + ", got " + width);
    }
    if (tokens > maxTokens) {
      throw new TensorCheckException(
          field
              + ".shape[0] = "
              + tokens
              + " tokens exceeds the limit of "
              + maxTokens
              + " per call",
          true);
    }
    long expected = tokens * width * TensorCodec.elementSize(t.getDtype());
    if (t.getData().size() != expected) {
      throw invalid(
          field
              + ".data holds "
              + t.getData().size()
              + " bytes but shape "
              + shape(t)
              + " of "
              + t.getDtype()
              + " needs "
              + expected);
    }
    return (int) tokens;
  }

  /**
   * Checks that a decoded FLOAT array (dense, c-order) holds no NaN or infinity. Reads the native
   * buffer directly: an ND4J reduction here would leave native garbage on every call.
   */
  public static void checkFinite(String field, INDArray array) throws TensorCheckException {
    FloatBuffer values = NdArrays.view(array).asFloatBuffer();
    for (int i = 0, n = values.limit(); i < n; i++) {
      if (!Float.isFinite(values.get(i))) {
        throw invalid(field + " contains NaN or infinite values (first at element " + i + ")");
      }
    }
  }

  /**
   * A tensor's shape for an error message: at most {@link #SHAPE_ECHO} entries, so that an error
   * never echoes an unbounded list a client sent.
   */
  public static String shape(Tensor t) {
    if (t.getShapeCount() <= SHAPE_ECHO) {
      return t.getShapeList().toString();
    }
    return t.getShapeList()
        .subList(0, SHAPE_ECHO)
        .toString()
        .replace("]", ", ... (" + t.getShapeCount() + " entries)]");
  }

  private static TensorCheckException invalid(String message) {
    return new TensorCheckException(message, false);
  }
}
