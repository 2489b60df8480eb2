package io.arrakis.model.kernel;

import io.arrakis.model.tensor.NdArrays;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Runs a batch through several experts and sums the weighted outputs per row: row i of the result
 * is Σ weight × expert(x_i) over the work items that list i, added in list order. Shared by the
 * in-process reference, the engine's in-process experts and the expert node so all compute with the
 * same operations.
 *
 * <p>Each expert's rows are gathered into one block, multiplied by its {@link PanelMatrix}es (which
 * read the weights once for all the rows) and added back, weighted, to their tokens' sums. A
 * combiner owns its scratch and reuses it from batch to batch, growing it only when a batch is
 * larger than any before, so a steady stream of batches allocates nothing. One combiner per thread:
 * it is not thread-safe.
 */
public final class MoeCombiner {
  private INDArray input;
  private INDArray[] inputViews = new INDArray[0];
  private float[] x = new float[0];
  private float[] rows = new float[0];
  private float[] gateUp = new float[0];
  private float[] down = new float[0];
  private float[] sums = new float[0];
  private float[] gate = new float[0];
  private float[] up = new float[0];
  private ByteBuffer out = ByteBuffer.allocateDirect(0);

  /**
   * A [n, d] FLOAT matrix to place a batch's tokens in before {@link #combine(INDArray, List)}; it
   * stays valid until the next call of this method.
   */
  public INDArray input(int n, long d) {
    if (input == null || input.size(1) != d || input.size(0) < n) {
      int capacity = grown(n);
      try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        input = Nd4j.create(DataType.FLOAT, new long[] {capacity, d}, 'c');
      }
      inputViews = new INDArray[capacity + 1];
    }
    INDArray v = inputViews[n];
    if (v == null) {
      v = input.get(NDArrayIndex.interval(0, n), NDArrayIndex.all());
      inputViews[n] = v;
    }
    return v;
  }

  /**
   * The partial sums [n, d] of {@code x} [n, d] (dense c order, as {@link #input} gives) as
   * little-endian FLOAT32 bytes (row-major), valid until the next call.
   */
  public ByteBuffer combine(INDArray x, List<ExpertWork> work) {
    int n = Math.toIntExact(x.size(0));
    int d = Math.toIntExact(x.size(1));
    this.x = grow(this.x, n * d);
    NdArrays.view(x).asFloatBuffer().get(0, this.x, 0, n * d);
    sums = grow(sums, n * d);
    combine(this.x, n, d, work, sums);
    if (out.capacity() < n * d * Float.BYTES) {
      out = ByteBuffer.allocateDirect(grown(n * d) * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    }
    out.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(sums, 0, n * d);
    return out.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(n * d * Float.BYTES);
  }

  /**
   * {@code out[0 .. n·d) = Σ work} over the rows of {@code x} [n, d], both row-major on the heap.
   */
  public void combine(float[] x, int n, int d, List<ExpertWork> work, float[] out) {
    Arrays.fill(out, 0, n * d, 0f);
    for (ExpertWork w : work) {
      int[] ids = w.rows();
      int m = ids.length;
      if (m == 0) {
        continue;
      }
      ExpertKernel k = w.kernel();
      int ff = Math.toIntExact(k.ffnSize());
      rows = grow(rows, m * d);
      gateUp = grow(gateUp, m * 2 * ff);
      down = grow(down, m * d);
      gate = grow(gate, ff);
      up = grow(up, ff);
      for (int i = 0; i < m; i++) {
        System.arraycopy(x, ids[i] * d, rows, i * d, d);
      }
      k.applyInto(rows, m, gateUp, down, gate, up);
      float[] weights = w.weights();
      for (int i = 0; i < m; i++) {
        addScaled(out, ids[i] * d, down, i * d, weights[i], d);
      }
    }
  }

  /**
   * {@link #combine} for a single call, as a new [n, d] array (allocated outside any workspace).
   */
  public static INDArray combineOnce(INDArray x, List<ExpertWork> work) {
    int n = Math.toIntExact(x.size(0));
    int d = Math.toIntExact(x.size(1));
    float[] in = x.castTo(DataType.FLOAT).dup('c').data().asFloat();
    float[] sums = new float[n * d];
    new MoeCombiner().combine(in, n, d, work, sums);
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return Nd4j.create(sums, new long[] {n, d}, 'c');
    }
  }

  private static void addScaled(float[] acc, int at, float[] y, int from, float weight, int len) {
    for (int j = 0; j < len; j++) {
      acc[at + j] += weight * y[from + j];
    }
  }

  private static float[] grow(float[] a, int needed) {
    return a.length >= needed ? a : new float[grown(needed)];
  }

  private static int grown(int needed) {
    return needed > 1 << 29
        ? needed
        : Math.max(16, Integer.highestOneBit(Math.max(1, needed - 1)) << 1);
  }
}
