package io.arrakis.engine.tensor;

import io.arrakis.model.checkpoint.Checkpoint;
import io.arrakis.model.kernel.PanelMatrix;
import java.io.IOException;
import java.util.Arrays;

/**
 * A weight matrix [rows, cols] as stored on the Hub (out × in), widened to float32 once at load,
 * with an optional bias [rows]. {@link #apply} computes {@code y = x·Wᵀ + b} for a block of rows on
 * the expert kernel's {@link PanelMatrix} (the weights read once per call for all the rows, no
 * per-call repacking), in blocks of output rows of at most 1 GiB each (a panel matrix holds 2 GiB).
 */
public final class Matrix {
  private static final long BLOCK_FLOATS = 1L << 28;

  private final int rows;
  private final int cols;
  private final int blockRows;
  private final PanelMatrix[] blocks;
  private final float[] bias;

  private Matrix(int rows, int cols, float[] values, float[] bias) {
    this.rows = rows;
    this.cols = cols;
    this.blockRows = (int) Math.min(rows, Math.max(64, BLOCK_FLOATS / cols / 64 * 64));
    this.blocks = new PanelMatrix[(rows + blockRows - 1) / blockRows];
    for (int b = 0; b < blocks.length; b++) {
      int start = b * blockRows;
      int end = Math.min(rows, start + blockRows);
      float[] part =
          blocks.length == 1 ? values : Arrays.copyOfRange(values, start * cols, end * cols);
      blocks[b] = PanelMatrix.fromOutIn(part, end - start, cols);
    }
    this.bias = bias;
  }

  /** Loads {@code name} [rows, cols], with {@code biasName} [rows] when not null. */
  public static Matrix load(Checkpoint ck, String name, int rows, int cols, String biasName)
      throws IOException {
    float[] values = ck.floats(name, rows, cols);
    float[] bias = biasName == null ? null : ck.floats(biasName, rows);
    return new Matrix(rows, cols, values, bias);
  }

  /** A matrix from row-major values (synthetic models, tests). */
  public static Matrix of(float[] values, int rows, int cols) {
    return new Matrix(rows, cols, values, null);
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

  /** {@code y[m, rows] = x[m, cols]·Wᵀ (+ b)}, x and y row-major on the heap. */
  public void apply(float[] x, int m, float[] y) {
    for (int b = 0; b < blocks.length; b++) {
      blocks[b].multiply(x, 0, cols, m, y, b * blockRows, rows);
    }
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
    blocks[r / blockRows].column(r % blockRows, dst, at);
  }
}
