package io.arrakis.router.dispatch;

import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.NodeDescription;

/**
 * What one Compute call to a node may carry, from what the node said of itself ({@code Describe})
 * and the router's own limits: rows per call, bytes per call and the dtype the node computes in.
 * Batches are split so that each call fits; rows travel as bf16 to a node that computes in bf16.
 *
 * @param maxTokens rows per call: the lower of the node's max_batch_tokens and the router's
 *     node-max-batch-tokens
 * @param maxBytes the node's inbound message limit
 * @param computeDtype FLOAT32 or BFLOAT16
 */
record NodeCapacity(int maxTokens, long maxBytes, DType computeDtype) {
  /**
   * What a node that does not say is assumed to accept: expert nodes' message limit before they
   * said it.
   */
  public static final long UNSAID_BYTES = 64L << 20;

  /**
   * Bytes of a Compute call beside its rows and pairs: batch id, the tensor's dtype and shape,
   * framing.
   */
  static final int CALL_BYTES = 1024;

  /** Bytes of one (row, weight) pair of an assignment, at most: a packed varint row and a float. */
  static final int PAIR_BYTES = 10;

  /** Bytes of one assignment beside its pairs: tags, lengths, layer and expert. */
  static final int ASSIGNMENT_BYTES = 32;

  /** The capacity of a node not described (yet): the router's batch limit, float32. */
  public static NodeCapacity assumed(NodeDispatcher.Limits limits) {
    return new NodeCapacity(limits.maxBatchTokens(), UNSAID_BYTES, DType.FLOAT32);
  }

  /**
   * A node's capacity from its description, checked against the model.
   *
   * @throws IllegalArgumentException saying why the node cannot serve this router (hidden size, a
   *     message limit below one token)
   */
  public static NodeCapacity of(NodeDescription d, int hidden, NodeDispatcher.Limits limits) {
    if (d.getHiddenSize() != 0 && d.getHiddenSize() != hidden) {
      throw new IllegalArgumentException(
          "it serves hidden size " + d.getHiddenSize() + " but the model's is " + hidden);
    }
    DType dtype = d.getComputeDtype() == DType.BFLOAT16 ? DType.BFLOAT16 : DType.FLOAT32;
    long bytes = d.getMaxRequestBytes() == 0 ? UNSAID_BYTES : d.getMaxRequestBytes();
    int tokens =
        d.getMaxBatchTokens() == 0
            ? limits.maxBatchTokens()
            : Math.min(d.getMaxBatchTokens(), limits.maxBatchTokens());
    NodeCapacity c = new NodeCapacity(tokens, bytes, dtype);
    long one = c.callBytes(1, hidden * 4L, 1, 1);
    if (one > bytes) {
      throw new IllegalArgumentException(
          "it accepts messages of "
              + bytes
              + " bytes, less than one token's "
              + one
              + " (hidden "
              + hidden
              + ")");
    }
    return c;
  }

  /**
   * How rows of {@code rows} dtype travel to this node: bf16 when they are bf16 or the node
   * computes in bf16.
   */
  public DType wireDtype(DType rows) {
    return computeDtype == DType.BFLOAT16 || rows == DType.BFLOAT16
        ? DType.BFLOAT16
        : DType.FLOAT32;
  }

  /** Rows per call when every row costs {@code rowBytes} and a pair each: what is said in logs. */
  public int tokensPerCall(long rowBytes) {
    long byBytes = (maxBytes - CALL_BYTES - ASSIGNMENT_BYTES) / (rowBytes + PAIR_BYTES);
    return (int) Math.max(0, Math.min(maxTokens, byBytes));
  }

  /**
   * An upper bound on the serialized size of a call of {@code rows} rows with {@code pairs} pairs
   * over {@code assignments} experts.
   */
  static long callBytes(long rows, long rowBytes, long pairs, long assignments) {
    return CALL_BYTES + rows * rowBytes + pairs * PAIR_BYTES + assignments * ASSIGNMENT_BYTES;
  }
}
