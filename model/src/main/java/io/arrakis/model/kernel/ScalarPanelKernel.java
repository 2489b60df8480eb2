package io.arrakis.model.kernel;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * {@link PanelKernel} in plain Java, for a JVM started without {@code --add-modules
 * jdk.incubator.vector}: each panel is copied to the heap and multiplied in loops the JIT
 * vectorises, with the same fused multiply-adds in the same order as {@link VectorPanelKernel}.
 */
final class ScalarPanelKernel implements PanelKernel {
  static final String WHY =
      "the vector kernel needs --add-modules jdk.incubator.vector and the C2 compiler";

  private final int width;
  private final String why;

  ScalarPanelKernel(int width) {
    this(width, WHY);
  }

  /**
   * @param why why the vector kernel does not run, for {@link #describe()}
   */
  ScalarPanelKernel(int width, String why) {
    this.width = width;
    this.why = why;
  }

  @Override
  public int width() {
    return width;
  }

  @Override
  public int panels(int n) {
    return Math.max(1, (n + width - 1) / width);
  }

  @Override
  public String describe() {
    return "java scalar fallback (" + width + "-column panels; " + why + ")";
  }

  @Override
  public void multiply(Rows a, ByteBuffer b, int k, int n, Rows c) {
    FloatBuffer floats = b.duplicate().order(b.order()).asFloatBuffer();
    float[] panel = new float[k * width];
    float[] acc = new float[width];
    for (int p = 0, panels = panels(n); p < panels; p++) {
      floats.get(p * k * width, panel, 0, panel.length);
      int col = p * width;
      int cols = Math.min(width, n - col);
      for (int i = 0; i < a.count(); i++) {
        Arrays.fill(acc, 0f);
        int ar = a.offset() + i * a.stride();
        for (int kk = 0; kk < k; kk++) {
          float x = a.data()[ar + kk];
          int at = kk * width;
          for (int j = 0; j < width; j++) {
            acc[j] = Math.fma(panel[at + j], x, acc[j]);
          }
        }
        System.arraycopy(acc, 0, c.data(), c.offset() + i * c.stride() + col, cols);
      }
    }
  }
}
