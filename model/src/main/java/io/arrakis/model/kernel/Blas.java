package io.arrakis.model.kernel;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The OpenBLAS that ND4J runs on (JavaCPP's preset), called directly on ND4J's native buffers: the
 * kernel's two shapes of product, and the thread count.
 *
 * <p>Direct calls rather than {@code Nd4j.gemm}: ND4J's wrapper runs a one-row product as a GEMM
 * that packs the whole weight matrix per call (about half the speed of a GEMV, which streams it
 * once), and adds order checks per call; here each product is one CBLAS call on row-major arrays.
 *
 * <p>OpenBLAS starts one thread per core whatever OMP_NUM_THREADS says; a node that already runs
 * one batch per core wants one BLAS thread per call, or its threads contend (and spin) for the
 * same cores.
 */
public final class Blas {
  private Blas() {}

  public static void threads(int n) {
    openblas_nolapack.blas_set_num_threads(n);
  }

  public static int threads() {
    return openblas_nolapack.blas_get_num_threads();
  }

  /**
   * Which OpenBLAS runs: the library files this process has mapped (on Linux), symbolic links
   * resolved, so that a bundled copy shows its JavaCPP jar and a system one its own file name
   * (Debian's carries the version, e.g. libopenblasp-r0.3.21.so); elsewhere the preset's version.
   */
  public static String describe() {
    threads(); // loads the library
    try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
      List<String> libs = maps.map(l -> l.substring(l.lastIndexOf(' ') + 1))
          .filter(f -> f.startsWith("/") && Path.of(f).getFileName().toString().startsWith("libopenblas"))
          .distinct().map(Blas::realPath).distinct().toList();
      if (!libs.isEmpty()) {
        return String.join(", ", libs);
      }
    } catch (IOException | UncheckedIOException e) {
      // not Linux: fall through
    }
    return "OpenBLAS (JavaCPP preset " + openblas_nolapack.class.getPackage().getImplementationVersion() + ")";
  }

  private static String realPath(String file) {
    try {
      return Path.of(file).toRealPath().toString();
    } catch (IOException e) {
      return file;
    }
  }

  /** Row-major {@code c[m, n] = a[m, k] · b[k, n]}, b and c dense, rows of a {@code lda} apart. */
  static void gemm(int m, int n, int k, FloatPointer a, int lda, FloatPointer b, FloatPointer c) {
    openblas_nolapack.cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1f, a, lda, b, n, 0f, c, n);
  }

  /** One row through a matrix: {@code y[n] = x[k] · b[k, n]}, b row-major. */
  static void gemv(int k, int n, FloatPointer b, FloatPointer x, FloatPointer y) {
    openblas_nolapack.cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1f, b, n, x, 1, 0f, y, 1);
  }

  /**
   * The native memory of a FLOAT matrix that lies densely in c order from the start of its buffer
   * (a view of leading rows does); valid while the array lives.
   */
  static FloatPointer floats(INDArray array) {
    if (array.dataType() != DataType.FLOAT || array.rank() != 2 || array.offset() != 0 || array.data().offset() != 0
        || !rowsDense(array)) {
      throw new IllegalArgumentException("BLAS operands must be dense c-order FLOAT arrays at offset 0");
    }
    return new FloatPointer(array.data().addressPointer());
  }

  // row after row, each row contiguous; strides of a size-1 dimension do not matter (ND4J gives a
  // one-row view the parent's row stride, a fresh one-row array a row stride of 1)
  private static boolean rowsDense(INDArray a) {
    long rows = a.size(0);
    long cols = a.size(1);
    return (cols == 1 || a.stride(1) == 1) && (rows == 1 || a.stride(0) == cols);
  }
}
