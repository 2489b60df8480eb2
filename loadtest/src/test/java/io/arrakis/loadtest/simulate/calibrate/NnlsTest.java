package io.arrakis.loadtest.simulate.calibrate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class NnlsTest {
  @Test
  void anExactSystemIsSolved() {
    double[][] a = {{1, 16, 0.2}, {1, 64, 0.2}, {1, 16, 1}, {1, 1, 1}};
    double[] x = {0.004, 1e-5, 0.002};
    double[] b = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      b[i] = a[i][0] * x[0] + a[i][1] * x[1] + a[i][2] * x[2];
    }
    double[] got = Nnls.solve(a, b);
    for (int i = 0; i < x.length; i++) {
      assertThat(got[i]).isCloseTo(x[i], within(1e-12));
    }
  }

  /** Noise that would make a cost negative pins it at 0 and fits the rest. */
  @Test
  void noCostComesOutNegative() {
    double[][] a = {{1, 1}, {1, 2}, {1, 3}};
    double[] b = {3.0, 2.0, 1.0}; // falling: the least-squares slope is -1
    double[] got = Nnls.solve(a, b);
    assertThat(got[1]).isZero();
    assertThat(got[0]).isCloseTo(2.0, within(1e-12)); // the mean, the best constant
  }
}
