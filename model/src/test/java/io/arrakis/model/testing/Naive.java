package io.arrakis.model.testing;

import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.NdArrays;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The MoE math as plain double-precision loops, written for clarity, not speed: the yardstick that
 * tests hold the ND4J code to. Also random test data (float32 or bfloat16-representable).
 */
public final class Naive {
  private Naive() {}

  /** The gate's choice for one token: experts by descending probability and their weights. */
  public record Route(int[] ids, double[] weights) {}

  /** silu(x) = x · sigmoid(x) = x / (1 + e^-x). */
  public static double silu(double x) {
    return x / (1 + Math.exp(-x));
  }

  /** softmax(logits), computed in double with the maximum subtracted. */
  public static double[] softmax(double[] logits) {
    double max = Arrays.stream(logits).max().orElseThrow();
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = Math.exp(logits[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
    }
    return p;
  }

  /**
   * Top-k of softmax(logits): descending probability, ties to the lower id; optionally
   * renormalised.
   */
  public static Route topK(double[] logits, int k, boolean renormalize) {
    double[] p = softmax(logits);
    int[] order =
        IntStream.range(0, p.length)
            .boxed()
            .sorted(Comparator.<Integer>comparingDouble(e -> -p[e]).thenComparingInt(e -> e))
            .mapToInt(Integer::intValue)
            .limit(k)
            .toArray();
    double[] w = new double[k];
    double sum = 0;
    for (int r = 0; r < k; r++) {
      w[r] = p[order[r]];
      sum += w[r];
    }
    if (renormalize) {
      for (int r = 0; r < k; r++) {
        w[r] /= sum;
      }
    }
    return new Route(order, w);
  }

  /**
   * The smallest gap between neighbours among the k+1 largest logits (all of them when k = E): a
   * token whose top-k choice or order could flip under float32 rounding has a tiny one.
   */
  public static double topKMargin(double[] logits, int k) {
    double[] sorted = Arrays.stream(logits).map(v -> -v).sorted().map(v -> -v).toArray();
    int m = Math.min(k + 1, sorted.length);
    double gap = Double.POSITIVE_INFINITY;
    for (int i = 1; i < m; i++) {
      gap = Math.min(gap, sorted[i - 1] - sorted[i]);
    }
    return gap;
  }

  /** a · bᵀ for a [n, m] and b [p, m]: [n, p]. */
  public static double[][] matmulT(float[][] a, float[][] b) {
    double[][] out = new double[a.length][b.length];
    for (int i = 0; i < a.length; i++) {
      for (int j = 0; j < b.length; j++) {
        double s = 0;
        for (int c = 0; c < a[i].length; c++) {
          s += (double) a[i][c] * b[j][c];
        }
        out[i][j] = s;
      }
    }
    return out;
  }

  /** One token's logits x · Gᵀ. */
  public static double[] logits(float[] x, float[][] gate) {
    return matmulT(new float[][] {x}, gate)[0];
  }

  /**
   * A SwiGLU expert on one token: w2 · (silu(w1 · x) ⊙ (w3 · x)), w1 and w3 [ff, d], w2 [d, ff].
   */
  public static double[] expert(float[][] w1, float[][] w3, float[][] w2, float[] x) {
    int ff = w1.length;
    double[] h = new double[ff];
    for (int f = 0; f < ff; f++) {
      double a = 0;
      double b = 0;
      for (int j = 0; j < x.length; j++) {
        a += (double) w1[f][j] * x[j];
        b += (double) w3[f][j] * x[j];
      }
      h[f] = silu(a) * b;
    }
    double[] y = new double[w2.length];
    for (int i = 0; i < y.length; i++) {
      double s = 0;
      for (int f = 0; f < ff; f++) {
        s += (double) w2[i][f] * h[f];
      }
      y[i] = s;
    }
    return y;
  }

  /** A [rows, cols] matrix of N(0, std²) values, rounded to bfloat16 when asked. */
  public static float[][] gaussian(
      SplittableRandom random, int rows, int cols, double std, boolean bf16) {
    float[][] m = new float[rows][cols];
    for (float[] row : m) {
      for (int j = 0; j < cols; j++) {
        float v = (float) (random.nextGaussian() * std);
        row[j] = bf16 ? Bf16.round(v) : v;
      }
    }
    return m;
  }

  /**
   * The matrix as a FLOAT array. With {@code bf16}, the values (which must be
   * bfloat16-representable) go the way a bf16 file does: as BF16 bytes widened by {@link
   * NdArrays#fromBytesAsFloat}.
   */
  public static INDArray nd(float[][] m, boolean bf16) {
    if (!bf16) {
      return Nd4j.createFromArray(m);
    }
    return NdArrays.fromBytesAsFloat(
        bf16Bytes(m), DataType.BFLOAT16, new long[] {m.length, m[0].length});
  }

  /** Row-major little-endian bfloat16 bytes of the matrix. */
  public static ByteBuffer bf16Bytes(float[][] m) {
    ByteBuffer b = ByteBuffer.allocate(m.length * m[0].length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float[] row : m) {
      for (float v : row) {
        b.putShort(Bf16.fromFloat(v));
      }
    }
    return b.flip();
  }

  /** Row-major little-endian float32 bytes of the matrix. */
  public static ByteBuffer f32Bytes(float[][] m) {
    ByteBuffer b = ByteBuffer.allocate(m.length * m[0].length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float[] row : m) {
      for (float v : row) {
        b.putFloat(v);
      }
    }
    return b.flip();
  }

  /** A rank-2 array's elements as rows (copied in c order). */
  public static float[][] rows(INDArray a) {
    if (a.rank() != 2) {
      throw new AssertionError("expected a matrix, got shape " + Arrays.toString(a.shape()));
    }
    float[] flat = a.dup('c').data().asFloat();
    int n = (int) a.size(0);
    int m = (int) a.size(1);
    float[][] out = new float[n][m];
    for (int i = 0; i < n; i++) {
      System.arraycopy(flat, i * m, out[i], 0, m);
    }
    return out;
  }

  /** max |a|. */
  public static double maxAbs(double[][] a) {
    double m = 0;
    for (double[] row : a) {
      for (double v : row) {
        m = Math.max(m, Math.abs(v));
      }
    }
    return m;
  }

  /** max |got − want| over matching shapes; fails on a shape mismatch. */
  public static double maxAbsDiff(float[][] got, double[][] want) {
    if (got.length != want.length) {
      throw new AssertionError("rows: got " + got.length + ", want " + want.length);
    }
    double m = 0;
    for (int i = 0; i < got.length; i++) {
      if (got[i].length != want[i].length) {
        throw new AssertionError(
            "row " + i + " width: got " + got[i].length + ", want " + want[i].length);
      }
      for (int j = 0; j < got[i].length; j++) {
        m = Math.max(m, Math.abs(got[i][j] - want[i][j]));
      }
    }
    return m;
  }
}
