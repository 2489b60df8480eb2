package io.arrakis.model.kernel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * The OpenBLAS that ND4J and the engine's projections run on (JavaCPP's preset): which library it
 * is, and its thread count.
 *
 * <p>OpenBLAS starts one thread per core whatever OMP_NUM_THREADS says; a node that already runs
 * one batch per core wants one BLAS thread per call, or its threads contend (and spin) for the same
 * cores.
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
      List<String> libs =
          maps.map(l -> l.substring(l.lastIndexOf(' ') + 1))
              .filter(
                  f ->
                      f.startsWith("/")
                          && Path.of(f).getFileName().toString().startsWith("libopenblas"))
              .distinct()
              .map(Blas::realPath)
              .distinct()
              .toList();
      if (!libs.isEmpty()) {
        return String.join(", ", libs);
      }
    } catch (IOException | UncheckedIOException e) {
      // not Linux: fall through
    }
    return "OpenBLAS (JavaCPP preset "
        + openblas_nolapack.class.getPackage().getImplementationVersion()
        + ")";
  }

  private static String realPath(String file) {
    try {
      return Path.of(file).toRealPath().toString();
    } catch (IOException e) {
      return file;
    }
  }
}
