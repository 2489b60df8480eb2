package io.arrakis.model.jmh;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.PanelMatrix;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * An expert's two products (x·[W1ᵀ|W3ᵀ] [d → 2 ff], then h·W2ᵀ [ff → d]) for {@code rows} rows,
 * three ways on the same shapes in one run: {@code panel}, the kernel's {@link PanelMatrix}
 * (weights packed once at load, streamed once per call); {@code sgemm}, OpenBLAS's GEMM on
 * row-major weights (what the kernel ran before for two rows or more: it repacks the weights on
 * every call); {@code gemv}, one OpenBLAS GEMV per row (what the engine ran for up to four rows).
 * One BLAS thread; {@code experts} distinct experts are cycled so the weights come from memory, as
 * in a model's layer. The defaults are the {@code bench generate} model's experts (hidden 1024, ffn
 * 512).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ExpertProductBenchmark {
  @Param({"1024"})
  int hidden;

  @Param({"512"})
  int ffn;

  @Param({"1", "2", "4", "8", "16", "64"})
  int rows;

  @Param({"panel", "sgemm", "gemv"})
  String impl;

  @Param({"32"})
  int experts;

  private PanelMatrix[] w13;
  private PanelMatrix[] w2;
  private FloatPointer[] w13t;
  private FloatPointer[] w2t;
  private float[] x;
  private float[] h;
  private float[] y;
  private FloatPointer xp;
  private FloatPointer hp;
  private FloatPointer yp;
  private int next;

  @Setup
  public void setUp() {
    Blas.threads(1);
    SplittableRandom rnd = new SplittableRandom(1);
    int d = hidden;
    int ff = ffn;
    w13 = new PanelMatrix[experts];
    w2 = new PanelMatrix[experts];
    w13t = new FloatPointer[experts];
    w2t = new FloatPointer[experts];
    for (int e = 0; e < experts; e++) {
      float[] a = random(rnd, 2 * ff * d); // [2 ff, d] as stored
      float[] b = random(rnd, d * ff); // [d, ff] as stored
      if (impl.equals("panel")) {
        w13[e] = PanelMatrix.fromOutIn(a, 2 * ff, d);
        w2[e] = PanelMatrix.fromOutIn(b, d, ff);
      } else {
        w13t[e] = new FloatPointer(transpose(a, 2 * ff, d));
        w2t[e] = new FloatPointer(transpose(b, d, ff));
      }
    }
    x = random(rnd, rows * d);
    h = new float[rows * 2 * ff];
    y = new float[rows * d];
    xp = new FloatPointer(x);
    hp = new FloatPointer((long) rows * 2 * ff);
    yp = new FloatPointer((long) rows * d);
  }

  @Benchmark
  public Object expert() {
    int e = next;
    next = (next + 1) % experts;
    int d = hidden;
    int ff = ffn;
    switch (impl) {
      case "panel" -> {
        w13[e].multiply(x, 0, d, rows, h, 0, 2 * ff);
        w2[e].multiply(h, 0, 2 * ff, rows, y, 0, d);
        return y;
      }
      case "sgemm" -> {
        openblas_nolapack.cblas_sgemm(
            CblasRowMajor,
            CblasNoTrans,
            CblasNoTrans,
            rows,
            2 * ff,
            d,
            1f,
            xp,
            d,
            w13t[e],
            2 * ff,
            0f,
            hp,
            2 * ff);
        openblas_nolapack.cblas_sgemm(
            CblasRowMajor,
            CblasNoTrans,
            CblasNoTrans,
            rows,
            d,
            ff,
            1f,
            hp,
            2 * ff,
            w2t[e],
            d,
            0f,
            yp,
            d);
        return yp;
      }
      default -> {
        for (int r = 0; r < rows; r++) {
          openblas_nolapack.cblas_sgemv(
              CblasRowMajor,
              CblasTrans,
              d,
              2 * ff,
              1f,
              w13t[e],
              2 * ff,
              xp.getPointer((long) r * d),
              1,
              0f,
              hp.getPointer((long) r * 2 * ff),
              1);
        }
        for (int r = 0; r < rows; r++) {
          openblas_nolapack.cblas_sgemv(
              CblasRowMajor,
              CblasTrans,
              ff,
              d,
              1f,
              w2t[e],
              d,
              hp.getPointer((long) r * 2 * ff),
              1,
              0f,
              yp.getPointer((long) r * d),
              1);
        }
        return yp;
      }
    }
  }

  private static float[] random(SplittableRandom rnd, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) rnd.nextDouble(-1, 1);
    }
    return v;
  }

  private static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = m[r * cols + c];
      }
    }
    return t;
  }
}
