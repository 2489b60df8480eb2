package io.arrakis.router.plan;

import com.google.protobuf.ByteString;
import java.util.List;

/**
 * The part of one request that goes to one expert node: the request's tokens that need any expert
 * held there, each sent once, with every (expert, weight) pair it needs on that node.
 *
 * @param nodeId the node
 * @param layer the MoE layer
 * @param tokens the request's token indices, ascending; slice row i is token tokens[i]
 * @param rows those tokens' hidden states, FLOAT32 little-endian, row i = tokens[i]
 * @param experts per expert, the slice rows it computes and their gate weights
 * @param attempt 0 for the first try, 1 for the retry on other replicas after a failure
 */
public record NodeSlice(String nodeId, int layer, int[] tokens, ByteString rows, List<ExpertRows> experts, int attempt) {

  /** Rows of a slice that one expert computes, with the gate weight of each. */
  public record ExpertRows(int expert, int[] rows, float[] weights) {}

  public int size() {
    return tokens.length;
  }
}
