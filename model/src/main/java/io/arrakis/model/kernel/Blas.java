package io.arrakis.model.kernel;

import org.bytedeco.openblas.global.openblas_nolapack;

/**
 * The BLAS ND4J runs on (OpenBLAS from JavaCPP): its thread count. OpenBLAS starts one thread per
 * core whatever OMP_NUM_THREADS says; a node that already runs one batch per core wants one BLAS
 * thread per call, or its threads contend (and spin) for the same cores.
 */
public final class Blas {
  private Blas() {}

  public static void threads(int n) {
    openblas_nolapack.blas_set_num_threads(n);
  }

  public static int threads() {
    return openblas_nolapack.blas_get_num_threads();
  }
}
