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
 * element of A four vectors), then the rows left over one at a time. B is read once per group of
 * rows straight from native memory, never repacked.
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
  public void multiply(float[] a, int aOff, int lda, int m, ByteBuffer b, int k, int n, float[] c, int cOff, int ldc) {
    int panelBytes = k * ROW_BYTES;
    float[] tail = null;
    for (int p = 0, panels = panels(n); p < panels; p += 2) {
      int base = p * panelBytes;
      int col = p * W;
      int cols = Math.min(2 * W, n - col);
      int i = 0;
      for (; i + 4 <= m; i += 4) {
        int ar = aOff + i * lda;
        if (cols == 2 * W) {
          tile4(a, ar, lda, b, base, panelBytes, k, c, cOff + i * ldc + col, ldc);
        } else {
          tail = tail == null ? new float[8 * W] : tail;
          tile4(a, ar, lda, b, base, panelBytes, k, tail, 0, 2 * W);
          for (int r = 0; r < 4; r++) {
            System.arraycopy(tail, r * 2 * W, c, cOff + (i + r) * ldc + col, cols);
          }
        }
      }
      for (; i < m; i++) {
        int ar = aOff + i * lda;
        if (cols == 2 * W) {
          tile1(a, ar, b, base, panelBytes, k, c, cOff + i * ldc + col);
        } else {
          tail = tail == null ? new float[8 * W] : tail;
          tile1(a, ar, b, base, panelBytes, k, tail, 0);
          System.arraycopy(tail, 0, c, cOff + i * ldc + col, cols);
        }
      }
    }
  }

  /** Four rows of A (lda apart from a0) times two panels (from byte {@code base}) into c at c0, rows ldc apart. */
  private static void tile4(float[] a, int a0, int lda, ByteBuffer b, int base, int panelBytes, int k, float[] c, int c0,
      int ldc) {
    FloatVector z = FloatVector.zero(S);
    FloatVector c00 = z, c01 = z, c02 = z, c03 = z;
    FloatVector c10 = z, c11 = z, c12 = z, c13 = z;
    FloatVector c20 = z, c21 = z, c22 = z, c23 = z;
    FloatVector c30 = z, c31 = z, c32 = z, c33 = z;
    int a1 = a0 + lda;
    int a2 = a1 + lda;
    int a3 = a2 + lda;
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
    store(c, c0, c00, c01, c02, c03);
    store(c, c0 + ldc, c10, c11, c12, c13);
    store(c, c0 + 2 * ldc, c20, c21, c22, c23);
    store(c, c0 + 3 * ldc, c30, c31, c32, c33);
  }

  /** One row of A from a0 times two panels into c at c0. */
  private static void tile1(float[] a, int a0, ByteBuffer b, int base, int panelBytes, int k, float[] c, int c0) {
    FloatVector z = FloatVector.zero(S);
    FloatVector c00 = z, c01 = z, c02 = z, c03 = z;
    int second = base + panelBytes;
    for (int kk = 0; kk < k; kk++) {
      int o = base + kk * ROW_BYTES;
      int q = second + kk * ROW_BYTES;
      FloatVector x = FloatVector.broadcast(S, a[a0 + kk]);
      c00 = FloatVector.fromByteBuffer(S, b, o, ORDER).fma(x, c00);
      c01 = FloatVector.fromByteBuffer(S, b, o + VECTOR_BYTES, ORDER).fma(x, c01);
      c02 = FloatVector.fromByteBuffer(S, b, q, ORDER).fma(x, c02);
      c03 = FloatVector.fromByteBuffer(S, b, q + VECTOR_BYTES, ORDER).fma(x, c03);
    }
    store(c, c0, c00, c01, c02, c03);
  }

  private static void store(float[] c, int at, FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3) {
    v0.intoArray(c, at);
    v1.intoArray(c, at + L);
    v2.intoArray(c, at + W);
    v3.intoArray(c, at + W + L);
  }
}
