package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.plan.NodeSlice;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Merges slices of concurrent requests into one Compute call (their rows stacked in order, one
 * assignment per expert across all slices, so the node runs one GEMM per expert) and splits the
 * answer back into each slice's partial sums.
 */
public final class BatchAssembler {
  private BatchAssembler() {}

  public static ComputeRequest assemble(String batchId, List<NodeSlice> slices, int hidden) {
    Map<ExpertId, Assignment.Builder> byExpert = new TreeMap<>();
    ByteString rows = ByteString.EMPTY;
    int offset = 0;
    for (NodeSlice s : slices) {
      rows = rows.concat(s.rows());
      for (NodeSlice.ExpertRows e : s.experts()) {
        Assignment.Builder a = byExpert.computeIfAbsent(new ExpertId(s.layer(), e.expert()),
            id -> Assignment.newBuilder().setLayer(id.layer()).setExpert(id.expert()));
        for (int i = 0; i < e.rows().length; i++) {
          a.addRows(offset + e.rows()[i]).addWeights(e.weights()[i]);
        }
      }
      offset += s.size();
    }
    ComputeRequest.Builder req = ComputeRequest.newBuilder()
        .setBatchId(batchId)
        .setHiddenStates(Tensor.newBuilder().setDtype(DType.FLOAT32).addShape(offset).addShape(hidden).setData(rows));
    byExpert.values().forEach(req::addAssignments);
    return req.build();
  }

  /**
   * Each slice's partial sums, in slice order, as views of the response's bytes.
   *
   * @throws IllegalStateException when the response does not have one FLOAT32 row per token sent
   */
  public static List<ByteString> split(ComputeResponse response, List<NodeSlice> slices, int hidden) {
    int tokens = slices.stream().mapToInt(NodeSlice::size).sum();
    Tensor t = response.getPartialSums();
    long rowBytes = (long) hidden * Float.BYTES;
    if (t.getDtype() != DType.FLOAT32 || t.getShapeCount() != 2 || t.getShape(0) != tokens || t.getShape(1) != hidden
        || t.getData().size() != tokens * rowBytes) {
      throw new IllegalStateException("expected partial_sums FLOAT32 [" + tokens + ", " + hidden + "], got "
          + t.getDtype() + " " + t.getShapeList() + " with " + t.getData().size() + " bytes");
    }
    List<ByteString> out = new ArrayList<>(slices.size());
    int offset = 0;
    for (NodeSlice s : slices) {
      out.add(t.getData().substring((int) (offset * rowBytes), (int) ((offset + s.size()) * rowBytes)));
      offset += s.size();
    }
    return out;
  }
}
