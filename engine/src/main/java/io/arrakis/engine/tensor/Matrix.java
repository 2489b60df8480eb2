package io.arrakis.engine.tensor;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

import io.arrakis.model.checkpoint.Checkpoint;
import java.io.IOException;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * A weight matrix [rows, cols] as stored on the Hub (out × in), widened to float32 once at load
 * into native memory, with an optional bias [rows]. {@link #apply} computes {@code y = x·Wᵀ + b}
 * for a block of rows with one OpenBLAS call (a GEMV for one row, which streams the weights once).
 */
public final class Matrix {
  private final int rows;
  private final int cols;
  private final FloatPointer data;
  private final float[] bias;

  private Matrix(int rows, int cols, FloatPointer data, float[] bias) {
    this.rows = rows;
    this.cols = cols;
    this.data = data;
    this.bias = bias;
  }

  /** Loads {@code name} [rows, cols], with {@code biasName} [rows] when not null. */
  public static Matrix load(Checkpoint ck, String name, int rows, int cols, String biasName) throws IOException {
    ck.check(name, rows, cols);
    FloatPointer p = new FloatPointer((long) rows * cols);
    ck.read(name, p.asBuffer());
    float[] bias = biasName == null ? null : ck.floats(biasName, rows);
    return new Matrix(rows, cols, p, bias);
  }

  /** A matrix from row-major values (synthetic models, tests). */
  public static Matrix of(float[] values, int rows, int cols) {
    FloatPointer p = new FloatPointer((long) rows * cols);
    p.put(values, 0, values.length);
    return new Matrix(rows, cols, p, null);
  }

  public int rows() {
    return rows;
  }

  public int cols() {
    return cols;
  }

  /** Bytes of weights (and bias). */
  public long bytes() {
    return ((long) rows * cols + (bias == null ? 0 : rows)) * Float.BYTES;
  }

  /**
   * {@code y[m, rows] = x[m, cols]·Wᵀ (+ b)} with x and y on the heap, staged through
   * {@code scratch}'s native buffers (no allocation once they are large enough).
   */
  public void apply(float[] x, int m, float[] y, NativeScratch scratch) {
    FloatPointer in = scratch.in((long) m * cols);
    FloatPointer out = scratch.out((long) m * rows);
    in.put(x, 0, m * cols);
    if (m == 1) {
      openblas_nolapack.cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1f, data, cols, in, 1, 0f, out, 1);
    } else {
      openblas_nolapack.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, rows, cols, 1f, in, cols, data, cols,
          0f, out, rows);
    }
    out.get(y, 0, m * rows);
    if (bias != null) {
      for (int i = 0; i < m; i++) {
        int at = i * rows;
        for (int j = 0; j < rows; j++) {
          y[at + j] += bias[j];
        }
      }
    }
  }

  /** Row {@code r} into {@code dst[at ..]} (embedding lookup). */
  public void row(int r, float[] dst, int at) {
    new FloatPointer(data).position((long) r * cols).get(dst, at, cols);
  }

  /** Frees the native memory now rather than when collected. */
  public void close() {
    data.close();
  }
}
