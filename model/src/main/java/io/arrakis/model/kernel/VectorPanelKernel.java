package io.arrakis.model.kernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link PanelKernel} on the Java Vector API (JDK 17's incubator module, in the widest vectors the
 * CPU has: 16 floats with AVX-512, 8 with AVX2). A panel is two vectors wide; the loop takes two
 * panels at once (two streams through memory, four independent accumulators per row) for four rows
 * (sixteen accumulators in registers: each loaded vector of B serves four rows, each broadcast
 * element of A four vectors); a single row takes four panels at once. B is read once per group of
 * four rows straight from native memory, never repacked. No vector crosses a method call: one the
 * JIT did not inline would box it, allocating on every call.
 */
final class VectorPanelKernel implements PanelKernel {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final int W = 2 * L;
  private static final int VECTOR_BYTES = L * Float.BYTES;
  private static final int ROW_BYTES = W * Float.BYTES;
  private static final ByteOrder ORDER = ByteOrder.nativeOrder();

  @Override
  public int width() {
    return W;
  }

  @Override
  public int panels(int n) {
    int p = Math.max(1, (n + W - 1) / W);
    return p + (p & 1);
  }

  @Override
  public String describe() {
    return "java vector api (" + S.vectorBitSize() + "-bit, " + W + "-column panels)";
  }

  @Override
  public void multiply(Rows rowsA, ByteBuffer b, int k, int n, Rows rowsC) {
    // hoisted once: the loops below index these plain locals
    float[] a = rowsA.data();
    int aOff = rowsA.offset();
    int lda = rowsA.stride();
    int m = rowsA.count();
    float[] c = rowsC.data();
    int cOff = rowsC.offset();
    int ldc = rowsC.stride();
    int panelBytes = k * ROW_BYTES;
    float[] tail = null;
    int panels = panels(n);
    if (m == 1 && n % (4 * W) == 0) {
      for (int p = 0; p < panels; p += 4) {
        row(a, aOff, b, p * panelBytes, panelBytes, k, c, cOff + p * W);
      }
      return;
    }
    for (int p = 0; p < panels; p += 2) {
      int base = p * panelBytes;
      int col = p * W;
      int cols = Math.min(2 * W, n - col);
      for (int i = 0; i < m; i += 4) {
        // a group of fewer than four rows repeats its last row: the same values go to the same
        // place
        int r1 = Math.min(i + 1, m - 1);
        int r2 = Math.min(i + 2, m - 1);
        int r3 = Math.min(i + 3, m - 1);
        int a0 = aOff + i * lda;
        int a1 = aOff + r1 * lda;
        int a2 = aOff + r2 * lda;
        int a3 = aOff + r3 * lda;
        if (cols == 2 * W) {
          int c0 = cOff + col;
          tile(
              a,
              a0,
              a1,
              a2,
              a3,
              b,
              base,
              panelBytes,
              k,
              c,
              c0 + i * ldc,
              c0 + r1 * ldc,
              c0 + r2 * ldc,
              c0 + r3 * ldc);
        } else {
          tail = tail == null ? new float[8 * W] : tail;
          tile(a, a0, a1, a2, a3, b, base, panelBytes, k, tail, 0, 2 * W, 4 * W, 6 * W);
          for (int r = i; r < Math.min(i + 4, m); r++) {
            System.arraycopy(tail, (r - i) * 2 * W, c, cOff + r * ldc + col, cols);
          }
        }
      }
    }
  }

  /**
   * Four rows of A (from a0 .. a3) times two panels (from byte {@code base}) into c at c0 .. c3.
   * One shape of loop for every row count: a single row through its own smaller loop ran at half
   * this loop's speed even with the weights in cache (the JIT compiled it worse), and a row of the
   * four costs little next to streaming the weights.
   */
  private static void tile(
      float[] a,
      int a0,
      int a1,
      int a2,
      int a3,
      ByteBuffer b,
      int base,
      int panelBytes,
      int k,
      float[] c,
      int c0,
      int c1,
      int c2,
      int c3) {
    FloatVector z = FloatVector.zero(S);
    FloatVector c00 = z, c01 = z, c02 = z, c03 = z;
    FloatVector c10 = z, c11 = z, c12 = z, c13 = z;
    FloatVector c20 = z, c21 = z, c22 = z, c23 = z;
    FloatVector c30 = z, c31 = z, c32 = z, c33 = z;
    int second = base + panelBytes;
    for (int kk = 0; kk < k; kk++) {
      int o = base + kk * ROW_BYTES;
      int q = second + kk * ROW_BYTES;
      FloatVector b0 = FloatVector.fromByteBuffer(S, b, o, ORDER);
      FloatVector b1 = FloatVector.fromByteBuffer(S, b, o + VECTOR_BYTES, ORDER);
      FloatVector b2 = FloatVector.fromByteBuffer(S, b, q, ORDER);
      FloatVector b3 = FloatVector.fromByteBuffer(S, b, q + VECTOR_BYTES, ORDER);
      FloatVector x = FloatVector.broadcast(S, a[a0 + kk]);
      c00 = b0.fma(x, c00);
      c01 = b1.fma(x, c01);
      c02 = b2.fma(x, c02);
      c03 = b3.fma(x, c03);
      x = FloatVector.broadcast(S, a[a1 + kk]);
      c10 = b0.fma(x, c10);
      c11 = b1.fma(x, c11);
      c12 = b2.fma(x, c12);
      c13 = b3.fma(x, c13);
      x = FloatVector.broadcast(S, a[a2 + kk]);
      c20 = b0.fma(x, c20);
      c21 = b1.fma(x, c21);
      c22 = b2.fma(x, c22);
      c23 = b3.fma(x, c23);
      x = FloatVector.broadcast(S, a[a3 + kk]);
      c30 = b0.fma(x, c30);
      c31 = b1.fma(x, c31);
      c32 = b2.fma(x, c32);
      c33 = b3.fma(x, c33);
    }
    c00.intoArray(c, c0);
    c01.intoArray(c, c0 + L);
    c02.intoArray(c, c0 + W);
    c03.intoArray(c, c0 + W + L);
    c10.intoArray(c, c1);
    c11.intoArray(c, c1 + L);
    c12.intoArray(c, c1 + W);
    c13.intoArray(c, c1 + W + L);
    c20.intoArray(c, c2);
    c21.intoArray(c, c2 + L);
    c22.intoArray(c, c2 + W);
    c23.intoArray(c, c2 + W + L);
    c30.intoArray(c, c3);
    c31.intoArray(c, c3 + L);
    c32.intoArray(c, c3 + W);
    c33.intoArray(c, c3 + W + L);
  }

  /**
   * One row (a GEMV) times four panels (from byte {@code base}) into c at c0: eight accumulators
   * and four streams, the weight-bound case of decoding one token. The same chain per output as
   * {@link #tile}, so the result is the one that row gets in a group.
   */
  private static void row(
      float[] a, int a0, ByteBuffer b, int base, int panelBytes, int k, float[] c, int c0) {
    FloatVector z = FloatVector.zero(S);
    FloatVector c0v = z, c1v = z, c2v = z, c3v = z, c4v = z, c5v = z, c6v = z, c7v = z;
    int p1 = base + panelBytes;
    int p2 = p1 + panelBytes;
    int p3 = p2 + panelBytes;
    for (int kk = 0; kk < k; kk++) {
      int o = kk * ROW_BYTES;
      FloatVector x = FloatVector.broadcast(S, a[a0 + kk]);
      FloatVector b0 = FloatVector.fromByteBuffer(S, b, base + o, ORDER);
      FloatVector b1 = FloatVector.fromByteBuffer(S, b, base + o + VECTOR_BYTES, ORDER);
      FloatVector b2 = FloatVector.fromByteBuffer(S, b, p1 + o, ORDER);
      FloatVector b3 = FloatVector.fromByteBuffer(S, b, p1 + o + VECTOR_BYTES, ORDER);
      FloatVector b4 = FloatVector.fromByteBuffer(S, b, p2 + o, ORDER);
      FloatVector b5 = FloatVector.fromByteBuffer(S, b, p2 + o + VECTOR_BYTES, ORDER);
      FloatVector b6 = FloatVector.fromByteBuffer(S, b, p3 + o, ORDER);
      FloatVector b7 = FloatVector.fromByteBuffer(S, b, p3 + o + VECTOR_BYTES, ORDER);
      c0v = b0.fma(x, c0v);
      c1v = b1.fma(x, c1v);
      c2v = b2.fma(x, c2v);
      c3v = b3.fma(x, c3v);
      c4v = b4.fma(x, c4v);
      c5v = b5.fma(x, c5v);
      c6v = b6.fma(x, c6v);
      c7v = b7.fma(x, c7v);
    }
    c0v.intoArray(c, c0);
    c1v.intoArray(c, c0 + L);
    c2v.intoArray(c, c0 + W);
    c3v.intoArray(c, c0 + W + L);
    c4v.intoArray(c, c0 + 2 * W);
    c5v.intoArray(c, c0 + 2 * W + L);
    c6v.intoArray(c, c0 + 3 * W);
    c7v.intoArray(c, c0 + 3 * W + L);
  }
}
