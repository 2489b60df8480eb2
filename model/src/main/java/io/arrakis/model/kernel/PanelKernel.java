package io.arrakis.model.kernel;

import java.nio.ByteBuffer;

/**
 * The inner loop of {@link PanelMatrix}'s product {@code C = A·B}, B packed in panels: panel p
 * holds columns {@code [p·W, (p+1)·W)} of B as k rows of W floats, one after the other, so a
 * product streams each panel once for all of A's rows. Every output element is one chain of fused
 * multiply-adds over k in ascending order, whichever rows it was computed with, so a row's result
 * does not depend on how many other rows share the call (and every implementation agrees to the
 * bit).
 */
interface PanelKernel {
  /** Columns per panel (W). */
  int width();

  /** Panels for {@code n} columns (padded with zero columns as the kernel needs). */
  int panels(int n);

  /** A name for reports (which instruction set, or the fallback). */
  String describe();

  /**
   * {@code c[cOff + i·ldc + j] = Σ_kk a[aOff + i·lda + kk] · B[kk, j]} for rows i < m and columns j
   * < n, B packed in {@code b} (native byte order) as {@link #panels(int)} panels of k × W floats.
   */
  void multiply(
      float[] a,
      int aOff,
      int lda,
      int m,
      ByteBuffer b,
      int k,
      int n,
      float[] c,
      int cOff,
      int ldc);
}
