package io.arrakis.model.kernel;

import io.arrakis.model.tensor.NdArrays;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Runs a batch through several experts and sums the weighted outputs per row: row i of the result
 * is Σ weight × expert(x_i) over the work items that list i, added in list order. Shared by the
 * in-process reference and the expert node so both compute with the same operations.
 *
 * <p>A combiner owns its scratch matrices and reuses them from batch to batch, growing them only
 * when a batch is larger than any before. ND4J frees the native memory of a temporary array only
 * when the garbage collector finds it, which under load lets a node's resident memory climb by
 * hundreds of MiB between collections; with reused scratch, a batch allocates no native memory.
 * One combiner per thread: it is not thread-safe.
 */
public final class MoeCombiner {
  private final Scratch input = new Scratch();
  private final Scratch rows = new Scratch();
  private final Scratch gateUp = new Scratch();
  private final Scratch down = new Scratch();
  private float[] gateRow = new float[0];
  private float[] upRow = new float[0];
  private ByteBuffer out = ByteBuffer.allocateDirect(0);

  /**
   * A [n, d] FLOAT matrix to place a batch's tokens in before {@link #combine}; it stays valid until
   * the next call of this method.
   */
  public INDArray input(int n, long d) {
    return input.view(n, d);
  }

  /**
   * The partial sums [n, d] of {@code x} [n, d] as little-endian FLOAT32 bytes (row-major), valid
   * until the next call.
   */
  public ByteBuffer combine(INDArray x, List<ExpertWork> work) {
    int n = Math.toIntExact(x.size(0));
    int d = Math.toIntExact(x.size(1));
    FloatBuffer xs = NdArrays.view(x).asFloatBuffer();
    FloatBuffer acc = output(n * d);
    for (ExpertWork w : work) {
      int m = w.rows().length;
      if (m == 0) {
        continue;
      }
      ExpertKernel k = w.kernel();
      INDArray xe = rows.view(m, d);
      FloatBuffer xeBuf = rows.floats();
      for (int i = 0; i < m; i++) {
        xeBuf.put(i * d, xs, w.rows()[i] * d, d);
      }
      INDArray gu = gateUp.view(m, 2 * k.ffnSize());
      INDArray y = down.view(m, d);
      if (gateRow.length < k.ffnSize()) {
        gateRow = new float[Math.toIntExact(k.ffnSize())];
        upRow = new float[gateRow.length];
      }
      k.applyInto(xe, gu, y, gateRow, upRow);
      FloatBuffer ys = down.floats();
      for (int i = 0; i < m; i++) {
        addScaled(acc, w.rows()[i] * d, ys, i * d, w.weights()[i], d);
      }
    }
    return out.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(n * d * Float.BYTES);
  }

  /** {@link #combine} for a single call, as a new [n, d] array (allocated outside any workspace). */
  public static INDArray combineOnce(INDArray x, List<ExpertWork> work) {
    ByteBuffer bytes = new MoeCombiner().combine(x, work);
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return NdArrays.fromBytes(bytes, DataType.FLOAT, new long[] {x.size(0), x.size(1)});
    }
  }

  private FloatBuffer output(int floats) {
    if (out.capacity() < floats * Float.BYTES) {
      out = ByteBuffer.allocateDirect(Scratch.grown(floats) * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    }
    FloatBuffer acc = out.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (int i = 0; i < floats; i++) {
      acc.put(i, 0f);
    }
    return acc;
  }

  private static void addScaled(FloatBuffer acc, int at, FloatBuffer y, int from, float weight, int len) {
    for (int j = 0; j < len; j++) {
      acc.put(at + j, acc.get(at + j) + weight * y.get(from + j));
    }
  }

  /**
   * A FLOAT matrix reused across batches, with a cached view per row count so that steady-state
   * batches create no new ND4J arrays.
   */
  private static final class Scratch {
    private INDArray matrix;
    private INDArray[] views = new INDArray[0];
    private FloatBuffer floats;

    INDArray view(int rowCount, long cols) {
      if (matrix == null || matrix.size(1) != cols || matrix.size(0) < rowCount) {
        int capacity = grown(rowCount);
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
          matrix = Nd4j.create(DataType.FLOAT, new long[] {capacity, cols}, 'c');
        }
        views = new INDArray[capacity + 1];
        floats = matrix.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
      }
      INDArray v = views[rowCount];
      if (v == null) {
        v = matrix.get(NDArrayIndex.interval(0, rowCount), NDArrayIndex.all());
        views[rowCount] = v;
      }
      return v;
    }

    FloatBuffer floats() {
      return floats;
    }

    static int grown(int needed) {
      return Math.max(16, Integer.highestOneBit(Math.max(1, needed - 1)) << 1);
    }
  }
}
