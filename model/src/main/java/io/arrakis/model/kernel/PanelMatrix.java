package io.arrakis.model.kernel;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/**
 * A weight matrix B [k, n] (k inputs, n outputs) laid out once, at load, for products {@code C[m,
 * n] = A[m, k]·B} with a few to a few hundred rows: the columns in panels of W, each panel's k rows
 * of W floats one after the other, in native memory (outside the Java heap, like the ND4J arrays it
 * replaces). The product streams each panel once for all of A's rows and never repacks B, which is
 * what a BLAS GEMM does on every call (OpenBLAS's packing of the weights was half of a 16-row
 * expert product) and what one GEMV per row avoids only by reading B once per row.
 *
 * <p>The kernel is the Java Vector API one when the JVM runs with {@code --add-modules
 * jdk.incubator.vector} (the launchers and the test JVMs do), else a plain-Java fallback with the
 * same arithmetic; {@link #kernel()} says which.
 */
public final class PanelMatrix {
  private static final Cleaner CLEANER = Cleaner.create();
  private static final int FALLBACK_WIDTH = 16;
  private static final PanelKernel DEFAULT = select();

  private final PanelKernel kernel;
  private final int k;
  private final int n;
  private final ByteBuffer data;

  private PanelMatrix(PanelKernel kernel, int k, int n, ByteBuffer data) {
    this.kernel = kernel;
    this.k = k;
    this.n = n;
    this.data = data;
  }

  private static PanelKernel select() {
    if (!ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
        || !optimizingCompiler()) {
      return new ScalarPanelKernel(FALLBACK_WIDTH);
    }
    return linkedOrFallback(VectorPanelKernel::new);
  }

  /**
   * The kernel if every one of its paths links and runs, else the fallback: the vector kernel is
   * written against JDK 17's incubating Vector API, whose byte-buffer loads later JDKs removed
   * (from JDK 20), and a missing method fails only when a call first runs — in the first product.
   */
  static PanelKernel linkedOrFallback(Supplier<PanelKernel> kernel) {
    try {
      PanelKernel k = kernel.get();
      probe(k);
      return k;
    } catch (LinkageError e) {
      return new ScalarPanelKernel(
          FALLBACK_WIDTH,
          "the vector kernel needs JDK 17's incubating vector API, which this JVM ("
              + Runtime.version()
              + ") does not have: "
              + e);
    }
  }

  /** One product through each of the kernel's paths: one row, a group of rows, a partial panel. */
  private static void probe(PanelKernel kernel) {
    int k = 2;
    for (int n : new int[] {4 * kernel.width(), 4 * kernel.width() - 1}) {
      PanelMatrix b = fromOutIn(kernel, new float[n * k], n, k);
      for (int m : new int[] {1, 5}) {
        b.multiply(new float[m * k], 0, k, m, new float[m * n], 0, n);
      }
    }
  }

  /**
   * Whether this JVM compiles hot code with C2, which alone turns Vector API calls into vector
   * instructions: under C1 only ({@code -XX:TieredStopAtLevel=1..3}, as the cluster tests started
   * their processes) or the interpreter every vector is a heap object, and the kernel ran ~100x
   * slower than the plain-Java fallback.
   */
  private static boolean optimizingCompiler() {
    if (System.getProperty("java.vm.info", "").contains("interpreted mode")) {
      return false;
    }
    try {
      HotSpotDiagnosticMXBean vm =
          ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
      boolean tiered = Boolean.parseBoolean(vm.getVMOption("TieredCompilation").getValue());
      return !tiered || Integer.parseInt(vm.getVMOption("TieredStopAtLevel").getValue()) >= 4;
    } catch (RuntimeException e) {
      return true; // not HotSpot, or no management: assume an optimizing compiler
    }
  }

  /** Which kernel products run on in this JVM. */
  public static String kernel() {
    return DEFAULT.describe();
  }

  /**
   * B from a matrix stored as the Hub stores weights, {@code w[o·k + i]} for output o < n and input
   * i < k (so that {@code A·B = A·Wᵀ}).
   */
  public static PanelMatrix fromOutIn(float[] w, int n, int k) {
    return fromOutIn(DEFAULT, w, n, k);
  }

  static PanelMatrix fromOutIn(PanelKernel kernel, float[] w, int n, int k) {
    if (w.length != (long) n * k) {
      throw new IllegalArgumentException(
          "a [" + n + ", " + k + "] matrix has " + (long) n * k + " values, got " + w.length);
    }
    int width = kernel.width();
    int panels = kernel.panels(n);
    long floats = (long) panels * k * width;
    if (floats * Float.BYTES > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "a ["
              + n
              + ", "
              + k
              + "] weight matrix is over 2 GiB, larger than a panel "
              + "matrix holds");
    }
    float[] packed = new float[(int) floats];
    for (int p = 0; p < panels; p++) {
      for (int j = 0; j < width; j++) {
        int o = p * width + j;
        if (o >= n) {
          break;
        }
        int src = o * k;
        int dst = p * k * width + j;
        for (int i = 0; i < k; i++) {
          packed[dst + i * width] = w[src + i];
        }
      }
    }
    ByteBuffer data = allocate(floats * Float.BYTES);
    data.asFloatBuffer().put(packed);
    return new PanelMatrix(kernel, k, n, data);
  }

  /**
   * Native memory of {@code bytes}, freed when the buffer is collected (not counted against the
   * heap).
   */
  private static ByteBuffer allocate(long bytes) {
    Pointer p = Pointer.malloc(bytes);
    if (p == null || p.isNull()) {
      throw new OutOfMemoryError(
          "could not allocate " + bytes + " bytes of native memory for weights");
    }
    ByteBuffer buffer =
        new BytePointer(p)
            .capacity(bytes)
            .limit(bytes)
            .asByteBuffer()
            .order(ByteOrder.nativeOrder());
    CLEANER.register(buffer, () -> Pointer.free(p));
    return buffer;
  }

  public int rows() {
    return k;
  }

  public int cols() {
    return n;
  }

  /** Bytes of native memory held (panels padded to the kernel's width). */
  public long bytesHeld() {
    return data.capacity();
  }

  /**
   * {@code c[cOff + i·ldc + j] = Σ a[aOff + i·lda + kk] · B[kk, j]} for i < m, j < n. Allocates
   * nothing (but a small tail buffer when n is not a whole number of panels).
   */
  public void multiply(float[] a, int aOff, int lda, int m, float[] c, int cOff, int ldc) {
    if (m > 0) {
      kernel.multiply(
          new PanelKernel.Rows(a, aOff, lda, m), data, k, n, new PanelKernel.Rows(c, cOff, ldc, m));
    }
  }

  /**
   * Column j of B, {@code B[0 .. k, j]} (row j of the matrix as the Hub stores it), into {@code
   * dst[at ..]}.
   */
  public void column(int j, float[] dst, int at) {
    int width = kernel.width();
    int first = ((j / width) * k * width + j % width) * Float.BYTES;
    for (int i = 0; i < k; i++) {
      dst[at + i] = data.getFloat(first + i * width * Float.BYTES);
    }
  }
}
