package io.arrakis.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Panel products on seeded random shapes (whole and partial panels, one row to many, rows of A and
 * C at any offset and stride): equal to a double-precision product within float32 rounding, the
 * vector kernel and the plain-Java fallback equal to the bit, and a row's result the same whatever
 * other rows share its call.
 */
class PanelMatrixTest {
  static IntStream cases() {
    return IntStream.range(0, 60);
  }

  /** Prints the kernel this JVM chose (for the C1-only JVM below). */
  public static void main(String[] args) {
    System.out.println(PanelMatrix.kernel());
  }

  @Test
  void aJvmWithoutC2RunsTheScalarKernelWhereVectorsWouldBeHeapObjects() throws Exception {
    Process p =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules",
                "jdk.incubator.vector",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                System.getProperty("java.class.path"),
                PanelMatrixTest.class.getName())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(out).contains("java scalar fallback").doesNotContain("java vector api");
  }

  @Test
  void theTestJvmRunsTheVectorKernel() {
    // surefire starts the JVM with --add-modules jdk.incubator.vector, as the launchers do
    assertThat(PanelMatrix.kernel()).startsWith("java vector api");
  }

  @Test
  void aKernelWhosePathsAllLinkIsKept() {
    assertThat(PanelMatrix.linkedOrFallback(VectorPanelKernel::new))
        .isInstanceOf(VectorPanelKernel.class);
  }

  /**
   * From JDK 20 the incubating API lacks the byte-buffer loads the vector kernel calls; the call
   * fails only when it first runs, so the kernel is tried on every path before it is chosen.
   */
  @Test
  void aKernelThatFailsToLinkInAnyPathGivesWayToTheFallbackSayingWhy() {
    for (int failingRows : new int[] {1, 5}) {
      PanelKernel kernel = PanelMatrix.linkedOrFallback(() -> unlinked(failingRows));

      assertThat(kernel).isInstanceOf(ScalarPanelKernel.class);
      assertThat(kernel.describe())
          .startsWith("java scalar fallback")
          .contains("JDK 17's incubating vector API")
          .contains("FloatVector.fromByteBuffer");
    }
  }

  /** A kernel whose products of {@code rows} rows hit a method this JVM does not have. */
  private static PanelKernel unlinked(int rows) {
    PanelKernel real = new ScalarPanelKernel(16);
    return new PanelKernel() {
      @Override
      public int width() {
        return real.width();
      }

      @Override
      public int panels(int n) {
        return real.panels(n);
      }

      @Override
      public String describe() {
        return "unlinked";
      }

      @Override
      public void multiply(Rows a, ByteBuffer b, int k, int n, Rows c) {
        if (a.count() == rows) {
          throw new NoSuchMethodError("FloatVector.fromByteBuffer");
        }
        real.multiply(a, b, k, n, c);
      }
    };
  }

  @ParameterizedTest(name = "case {0}")
  @MethodSource("cases")
  void productEqualsDoublePrecisionAndBothKernelsAgreeToTheBit(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0x9A_0000L + caseNo);
    int k = 1 + rnd.nextInt(caseNo < 10 ? 300 : 70);
    int n = 1 + rnd.nextInt(caseNo < 10 ? 300 : 140);
    int m = 1 + rnd.nextInt(caseNo < 10 ? 3 : 21);
    int lda = k + rnd.nextInt(4);
    int ldc = n + rnd.nextInt(4);
    int aOff = rnd.nextInt(5);
    int cOff = rnd.nextInt(5);
    float[] w = gaussian(rnd, n * k);
    float[] a = gaussian(rnd, aOff + m * lda);

    float[] vector = fill(cOff + m * ldc, 7f);
    PanelMatrix.fromOutIn(new VectorPanelKernel(), w, n, k)
        .multiply(a, aOff, lda, m, vector, cOff, ldc);
    float[] scalar = fill(cOff + m * ldc, 7f);
    PanelMatrix.fromOutIn(new ScalarPanelKernel(16), w, n, k)
        .multiply(a, aOff, lda, m, scalar, cOff, ldc);

    assertThat(vector).as("k=%d n=%d m=%d", k, n, m).containsExactly(scalar);
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double want = 0;
        double scale = 0;
        for (int kk = 0; kk < k; kk++) {
          want += (double) a[aOff + i * lda + kk] * w[j * k + kk];
          scale += Math.abs((double) a[aOff + i * lda + kk] * w[j * k + kk]);
        }
        assertThat((double) vector[cOff + i * ldc + j])
            .as("k=%d n=%d m=%d, row %d col %d", k, n, m, i, j)
            .isCloseTo(want, Offset.offset(1e-6 * Math.max(1, scale)));
      }
      // what lies between rows (ldc > n) and before the first is left alone
      for (int j = n; j < ldc && i < m - 1; j++) {
        assertThat(vector[cOff + i * ldc + j]).isEqualTo(7f);
      }
    }
    for (int j = 0; j < cOff; j++) {
      assertThat(vector[j]).isEqualTo(7f);
    }
  }

  @ParameterizedTest(name = "case {0}")
  @MethodSource("cases")
  void aRowsResultDoesNotDependOnTheRowsBesideIt(int caseNo) {
    SplittableRandom rnd = new SplittableRandom(0xB1_0000L + caseNo);
    int k = 1 + rnd.nextInt(200);
    int n = 1 + rnd.nextInt(200);
    int m = 2 + rnd.nextInt(19);
    float[] w = gaussian(rnd, n * k);
    float[] a = gaussian(rnd, m * k);
    PanelMatrix b = PanelMatrix.fromOutIn(w, n, k);
    float[] all = new float[m * n];
    b.multiply(a, 0, k, m, all, 0, n);

    for (int i = 0; i < m; i++) {
      float[] alone = new float[n];
      b.multiply(a, i * k, k, 1, alone, 0, n);
      assertThat(alone)
          .as("row %d of %d", i, m)
          .containsExactly(Arrays.copyOfRange(all, i * n, (i + 1) * n));
    }
  }

  /**
   * Whole groups of four panels take the one-row loop alone: the same values as in a group of rows.
   */
  @ParameterizedTest(name = "n = {0}")
  @ValueSource(ints = {64, 128, 256, 512, 1024})
  void aSingleRowOverWholePanelGroupsEqualsItsRowInAGroup(int n) {
    SplittableRandom rnd = new SplittableRandom(n);
    int k = 300;
    int m = 5;
    float[] w = gaussian(rnd, n * k);
    float[] a = gaussian(rnd, m * k);
    PanelMatrix vector = PanelMatrix.fromOutIn(new VectorPanelKernel(), w, n, k);
    PanelMatrix scalar = PanelMatrix.fromOutIn(new ScalarPanelKernel(16), w, n, k);
    float[] all = new float[m * n];
    vector.multiply(a, 0, k, m, all, 0, n);
    for (int i = 0; i < m; i++) {
      float[] alone = new float[n + 3];
      vector.multiply(a, i * k, k, 1, alone, 1, n);
      float[] fallback = new float[n];
      scalar.multiply(a, i * k, k, 1, fallback, 0, n);
      assertThat(Arrays.copyOfRange(alone, 1, n + 1))
          .as("row %d", i)
          .containsExactly(Arrays.copyOfRange(all, i * n, (i + 1) * n))
          .containsExactly(fallback);
      assertThat(alone[0]).isZero();
      assertThat(alone[n + 1]).isZero();
    }
  }

  @Test
  void refusesValuesThatDoNotMatchTheShape() {
    assertThatThrownBy(() -> PanelMatrix.fromOutIn(new float[5], 2, 3))
        .hasMessageContaining("[2, 3]");
  }

  private static float[] gaussian(SplittableRandom rnd, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (rnd.nextDouble(-1, 1) * (1 + 3 * rnd.nextDouble()));
    }
    return v;
  }

  private static float[] fill(int n, float value) {
    float[] v = new float[n];
    Arrays.fill(v, value);
    return v;
  }
}
