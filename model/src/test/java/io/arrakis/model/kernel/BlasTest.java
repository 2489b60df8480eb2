package io.arrakis.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Which OpenBLAS runs. */
class BlasTest {

  @Test
  void describeNamesTheOpenBlasLibraryInUse() {
    assertThat(Blas.describe()).containsIgnoringCase("openblas");
  }
}
