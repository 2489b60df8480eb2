package io.arrakis.model.bench;

import org.bytedeco.openblas.global.openblas_nolapack;

/** The BLAS ND4J runs on (OpenBLAS from JavaCPP): its thread count. */
public final class Blas {
  private Blas() {}

  public static void threads(int n) {
    openblas_nolapack.blas_set_num_threads(n);
  }

  public static int threads() {
    return openblas_nolapack.blas_get_num_threads();
  }
}
