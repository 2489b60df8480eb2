package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Merges parts of slices of concurrent requests into one Compute call (their rows stacked in order,
 * in the call's dtype, one assignment per expert across all parts, so the node runs one GEMM per
 * expert) and splits the answer back into each part's partial sums.
 */
final class BatchAssembler {
  private BatchAssembler() {}

  /**
   * @param dtype how the rows travel: FLOAT32, or BFLOAT16 (float32 rows rounded to it)
   */
  static ComputeRequest assemble(String batchId, List<SlicePart> parts, int hidden, DType dtype) {
    Map<ExpertId, Assignment.Builder> byExpert = new TreeMap<>();
    ByteString rows = ByteString.EMPTY;
    int offset = 0;
    for (SlicePart p : parts) {
      rows = rows.concat(inDtype(p.rows(), p.slice().dtype(), dtype));
      for (var e : p.experts()) {
        Assignment.Builder a =
            byExpert.computeIfAbsent(
                new ExpertId(p.slice().layer(), e.expert()),
                id -> Assignment.newBuilder().setLayer(id.layer()).setExpert(id.expert()));
        for (int i = 0; i < e.rows().length; i++) {
          a.addRows(offset + e.rows()[i]).addWeights(e.weights()[i]);
        }
      }
      offset += p.size();
    }
    ComputeRequest.Builder req =
        ComputeRequest.newBuilder()
            .setBatchId(batchId)
            .setHiddenStates(
                Tensor.newBuilder()
                    .setDtype(dtype)
                    .addShape(offset)
                    .addShape(hidden)
                    .setData(rows));
    byExpert.values().forEach(req::addAssignments);
    return req.build();
  }

  private static ByteString inDtype(ByteString rows, DType from, DType to) {
    if (from == to) {
      return rows;
    }
    return to == DType.BFLOAT16 ? TensorCodec.narrowToBf16(rows) : TensorCodec.widenBf16(rows);
  }

  /**
   * Each part's partial sums as FLOAT32 little-endian bytes, in part order; the answer may be
   * FLOAT32 or BFLOAT16 (widened exactly).
   *
   * @throws IllegalStateException when the response does not have one row per token sent
   */
  static List<ByteString> split(ComputeResponse response, List<SlicePart> parts, int hidden) {
    int tokens = parts.stream().mapToInt(SlicePart::size).sum();
    Tensor t = response.getPartialSums();
    long elements = (long) tokens * hidden;
    int size = TensorCodec.elementSize(t.getDtype());
    if ((t.getDtype() != DType.FLOAT32 && t.getDtype() != DType.BFLOAT16)
        || t.getShapeCount() != 2
        || t.getShape(0) != tokens
        || t.getShape(1) != hidden
        || t.getData().size() != elements * size) {
      throw new IllegalStateException(
          "expected partial_sums FLOAT32 or BFLOAT16 ["
              + tokens
              + ", "
              + hidden
              + "], got "
              + t.getDtype()
              + " "
              + TensorChecks.shape(t)
              + " with "
              + t.getData().size()
              + " bytes");
    }
    ByteString sums = TensorCodec.float32Bytes(t);
    long rowBytes = (long) hidden * Float.BYTES;
    List<ByteString> out = new ArrayList<>(parts.size());
    int offset = 0;
    for (SlicePart p : parts) {
      out.add(sums.substring((int) (offset * rowBytes), (int) ((offset + p.size()) * rowBytes)));
      offset += p.size();
    }
    return out;
  }
}
