package io.arrakis.expert.gpucheck;

import com.google.protobuf.UnsafeByteOperations;
import io.arrakis.model.kernel.backend.BackendExpert;
import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** Rows to and from wire tensors, routings to work lists, and error measures. */
final class Rows {
  private Rows() {}

  static Tensor encode(float[][] x, DType dtype) {
    int tokens = x.length;
    int d = x[0].length;
    int size = dtype == DType.BFLOAT16 ? 2 : 4;
    ByteBuffer b = ByteBuffer.allocate(tokens * d * size).order(ByteOrder.LITTLE_ENDIAN);
    for (float[] row : x) {
      for (float v : row) {
        if (dtype == DType.BFLOAT16) {
          b.putShort(Bf16.fromFloat(v));
        } else {
          b.putFloat(v);
        }
      }
    }
    return Tensor.newBuilder()
        .setDtype(dtype)
        .addShape(tokens)
        .addShape(d)
        .setData(UnsafeByteOperations.unsafeWrap(b.array()))
        .build();
  }

  static float[][] decode(Tensor t) {
    int tokens = Math.toIntExact(t.getShape(0));
    int d = Math.toIntExact(t.getShape(1));
    ByteBuffer b = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    float[][] out = new float[tokens][d];
    for (int i = 0; i < tokens; i++) {
      for (int c = 0; c < d; c++) {
        out[i][c] = t.getDtype() == DType.BFLOAT16 ? Bf16.toFloat(b.getShort()) : b.getFloat();
      }
    }
    return out;
  }

  /** The work list of a routing: one item per expert chosen by some token, rows in token order. */
  static List<BackendWork> work(MoeReference.Routing r, BackendExpert[] experts) {
    List<List<Integer>> rows = new ArrayList<>();
    List<List<Float>> weights = new ArrayList<>();
    for (int e = 0; e < experts.length; e++) {
      rows.add(new ArrayList<>());
      weights.add(new ArrayList<>());
    }
    for (int t = 0; t < r.ids().length; t++) {
      for (int j = 0; j < r.ids()[t].length; j++) {
        rows.get(r.ids()[t][j]).add(t);
        weights.get(r.ids()[t][j]).add(r.weights()[t][j]);
      }
    }
    List<BackendWork> work = new ArrayList<>();
    for (int e = 0; e < experts.length; e++) {
      if (!rows.get(e).isEmpty()) {
        int[] rr = rows.get(e).stream().mapToInt(Integer::intValue).toArray();
        float[] ww = new float[rr.length];
        for (int i = 0; i < ww.length; i++) {
          ww[i] = weights.get(e).get(i);
        }
        work.add(new BackendWork(experts[e], rr, ww));
      }
    }
    return work;
  }

  /** max|got − want| / max|want|. */
  static double maxRelative(float[][] got, float[][] want) {
    double err = 0;
    double max = 0;
    for (int t = 0; t < want.length; t++) {
      for (int c = 0; c < want[t].length; c++) {
        double g = got[t][c];
        err = Double.isNaN(g) ? Double.POSITIVE_INFINITY : Math.max(err, Math.abs(g - want[t][c]));
        max = Math.max(max, Math.abs(want[t][c]));
      }
    }
    return err / max;
  }

  /** ‖got − want‖ / ‖want‖ (Frobenius). */
  static double froRelative(float[][] got, float[][] want) {
    double num = 0;
    double den = 0;
    for (int t = 0; t < want.length; t++) {
      for (int c = 0; c < want[t].length; c++) {
        double e = got[t][c] - want[t][c];
        num += e * e;
        den += (double) want[t][c] * want[t][c];
      }
    }
    return Math.sqrt(num / den);
  }

  static float[][] reshape(float[] flat, int rows, int cols) {
    float[][] out = new float[rows][cols];
    for (int i = 0; i < rows; i++) {
      System.arraycopy(flat, i * cols, out[i], 0, cols);
    }
    return out;
  }

  static float[][] add(float[][] a, float[][] b) {
    float[][] out = new float[a.length][];
    for (int i = 0; i < a.length; i++) {
      out[i] = new float[a[i].length];
      for (int c = 0; c < a[i].length; c++) {
        out[i][c] = a[i][c] + b[i][c];
      }
    }
    return out;
  }
}
