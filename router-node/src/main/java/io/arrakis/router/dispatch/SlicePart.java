package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import io.arrakis.router.plan.NodeSlice;
import java.util.ArrayList;
import java.util.List;

/**
 * Rows {@code [from, to)} of a slice: what one Compute call carries of it. A slice larger than a
 * node takes in one call goes in several parts; usually a part is the whole slice.
 */
record SlicePart(NodeSlice slice, int from, int to) {
  int size() {
    return to - from;
  }

  boolean whole() {
    return from == 0 && to == slice.size();
  }

  /** The part's rows, as the slice holds them (a view). */
  ByteString rows() {
    int rowBytes = slice.rowBytes();
    return whole() ? slice.rows() : slice.rows().substring(from * rowBytes, to * rowBytes);
  }

  /** The slice's expert rows that fall in this part, renumbered from 0. */
  List<NodeSlice.ExpertRows> experts() {
    if (whole()) {
      return slice.experts();
    }
    List<NodeSlice.ExpertRows> out = new ArrayList<>();
    for (NodeSlice.ExpertRows e : slice.experts()) {
      int n = 0;
      for (int r : e.rows()) {
        n += r >= from && r < to ? 1 : 0;
      }
      if (n == 0) {
        continue;
      }
      int[] rows = new int[n];
      float[] weights = new float[n];
      int i = 0;
      for (int j = 0; j < e.rows().length; j++) {
        if (e.rows()[j] >= from && e.rows()[j] < to) {
          rows[i] = e.rows()[j] - from;
          weights[i++] = e.weights()[j];
        }
      }
      out.add(new NodeSlice.ExpertRows(e.expert(), rows, weights));
    }
    return out;
  }
}
