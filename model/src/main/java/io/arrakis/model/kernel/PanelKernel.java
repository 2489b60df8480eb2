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
   * {@code C[i, j] = Σ_kk A[i, kk] · B[kk, j]} for the rows i of {@code a} and columns j < n, B
   * packed in {@code b} (native byte order) as {@link #panels(int)} panels of k × W floats; {@code
   * c} has as many rows as {@code a}.
   */
  void multiply(Rows a, ByteBuffer b, int k, int n, Rows c);

  /**
   * {@code count} rows of a row-major matrix in {@code data}: row i starts at {@code offset + i ·
   * stride}.
   */
  record Rows(float[] data, int offset, int stride, int count) {}
}
