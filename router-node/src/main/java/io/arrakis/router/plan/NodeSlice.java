package io.arrakis.router.plan;

import com.google.protobuf.ByteString;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import java.util.List;

/**
 * The part of one request that goes to one expert node: the request's tokens that need any expert
 * held there, each sent once, with every (expert, weight) pair it needs on that node.
 *
 * @param nodeId the node
 * @param layer the MoE layer
 * @param tokens the request's token indices, ascending; slice row i is token tokens[i]
 * @param rows those tokens' hidden states in {@code dtype}, little-endian, row i = tokens[i]
 * @param experts per expert, the slice rows it computes and their gate weights
 * @param attempt 0 for the first try, 1 for the retry on other replicas after a failure
 * @param dtype FLOAT32 or BFLOAT16: how the rows travel unless the node computes in bf16
 */
public record NodeSlice(
    String nodeId,
    int layer,
    int[] tokens,
    ByteString rows,
    List<ExpertRows> experts,
    int attempt,
    DType dtype) {

  /** Rows of a slice that one expert computes, with the gate weight of each. */
  public record ExpertRows(int expert, int[] rows, float[] weights) {}

  /** A slice of FLOAT32 rows. */
  public NodeSlice(
      String nodeId,
      int layer,
      int[] tokens,
      ByteString rows,
      List<ExpertRows> experts,
      int attempt) {
    this(nodeId, layer, tokens, rows, experts, attempt, DType.FLOAT32);
  }

  public int size() {
    return tokens.length;
  }

  /** Bytes of one row. */
  public int rowBytes() {
    return rows.size() / tokens.length;
  }

  /** Token-expert pairs: the node's work. */
  public int pairs() {
    return experts.stream().mapToInt(e -> e.rows().length).sum();
  }

  /** Bytes per element of {@code dtype}. */
  public int elementBytes() {
    return TensorCodec.elementSize(dtype);
  }
}
