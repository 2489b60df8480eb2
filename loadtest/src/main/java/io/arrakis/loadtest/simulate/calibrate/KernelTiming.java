package io.arrakis.loadtest.simulate.calibrate;

import io.arrakis.loadtest.simulate.Calibration;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Times the expert block and the gate in this process, in thread CPU time, on random weights of the
 * model's sizes with one BLAS thread (as expert nodes run them). Experts are taken in turn from
 * enough distinct weight sets to overflow the CPU caches, as a node holding many experts does.
 */
final class KernelTiming {
  /** Rows per expert timed; beyond the last, time grows linearly. */
  public static final List<Integer> ROWS = List.of(1, 2, 4, 8, 16, 32, 64, 128, 256, 512);

  /** Tokens per gate call timed. */
  static final List<Integer> GATE_TOKENS = List.of(1, 16, 64, 256);

  private static final long CACHE_BYTES = 96L << 20;
  private static final int MAX_WEIGHT_SETS = 16;
  private static final int REPEATS = 15;
  private static final Duration WARM_UP = Duration.ofSeconds(3);

  /** Gate CPU seconds for {@code tokens} tokens. */
  public record GatePoint(int tokens, double seconds) {}

  private KernelTiming() {}

  /**
   * Runs the block over every row count for a while untimed: the kernel is Java on the Vector API,
   * which is slow (every vector a heap object) until C2 has compiled it, and a handful of calls
   * does not get it there.
   */
  private static void warmUp(MoeCombiner combiner, List<ExpertKernel> kernels, int hidden) {
    long until = System.nanoTime() + WARM_UP.toNanos();
    int turn = 0;
    while (System.nanoTime() < until) {
      for (int m : ROWS) {
        INDArray x = Nd4j.randn(DataType.FLOAT, m, hidden);
        combiner.combine(x, List.of(allRows(kernels.get(turn++ % kernels.size()), m)));
      }
    }
  }

  /** {@code kernel} over all {@code m} rows of a batch, each with gate weight 0.5. */
  private static ExpertWork allRows(ExpertKernel kernel, int m) {
    int[] rows = new int[m];
    float[] weights = new float[m];
    for (int i = 0; i < m; i++) {
      rows[i] = i;
      weights[i] = 0.5f;
    }
    return new ExpertWork(kernel, rows, weights);
  }

  /** Median CPU seconds of one expert over each of {@link #ROWS} rows. */
  public static List<Calibration.Point> expert(int hidden, int ffn, long seed) {
    Blas.threads(1);
    Nd4j.getRandom().setSeed(seed);
    long expertBytes = 3L * hidden * ffn * Float.BYTES;
    int sets = (int) Math.max(2, Math.min(MAX_WEIGHT_SETS, CACHE_BYTES / expertBytes + 1));
    float scale = (float) (1 / Math.sqrt(hidden));
    List<ExpertKernel> kernels = new ArrayList<>();
    for (int i = 0; i < sets; i++) {
      kernels.add(
          ExpertKernel.fromHf(
              Nd4j.randn(DataType.FLOAT, ffn, hidden).muli(scale),
              Nd4j.randn(DataType.FLOAT, ffn, hidden).muli(scale),
              Nd4j.randn(DataType.FLOAT, hidden, ffn).muli((float) (1 / Math.sqrt(ffn)))));
    }
    MoeCombiner combiner = new MoeCombiner();
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    List<Calibration.Point> out = new ArrayList<>();
    int turn = 0;
    warmUp(combiner, kernels, hidden);
    for (int m : ROWS) {
      INDArray x = Nd4j.randn(DataType.FLOAT, m, hidden);
      double[] seconds = new double[REPEATS];
      for (int r = -sets; r < REPEATS; r++) { // one round over the weight sets first, not timed
        ExpertWork work = allRows(kernels.get(turn++ % sets), m);
        long start = threads.getCurrentThreadCpuTime();
        combiner.combine(x, List.of(work));
        if (r >= 0) {
          seconds[r] = (threads.getCurrentThreadCpuTime() - start) / 1e9;
        }
      }
      out.add(new Calibration.Point(m, median(seconds)));
    }
    return out;
  }

  /**
   * Median CPU seconds of the gate (logits GEMM, softmax, top-k) over each of {@link #GATE_TOKENS}
   * tokens.
   */
  public static List<GatePoint> gate(int hidden, int experts, int topK, long seed) {
    Blas.threads(1);
    Nd4j.getRandom().setSeed(seed);
    Gate gate = new Gate(Nd4j.randn(DataType.FLOAT, experts, hidden), topK, true);
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    List<GatePoint> out = new ArrayList<>();
    for (int t : GATE_TOKENS) {
      INDArray x = Nd4j.randn(DataType.FLOAT, t, hidden);
      double[] seconds = new double[REPEATS * 2];
      for (int r = -REPEATS; r < seconds.length; r++) {
        long start = threads.getCurrentThreadCpuTime();
        gate.route(x);
        if (r >= 0) {
          seconds[r] = (threads.getCurrentThreadCpuTime() - start) / 1e9;
        }
      }
      out.add(new GatePoint(t, median(seconds)));
    }
    return out;
  }

  /** Gate seconds per token, the slope of a least-squares line through the points. */
  public static double gatePerToken(List<GatePoint> points) {
    double n = points.size();
    double sx = 0;
    double sy = 0;
    double sxx = 0;
    double sxy = 0;
    for (GatePoint p : points) {
      sx += p.tokens();
      sy += p.seconds();
      sxx += (double) p.tokens() * p.tokens();
      sxy += p.tokens() * p.seconds();
    }
    return Math.max(0, (n * sxy - sx * sy) / (n * sxx - sx * sx));
  }

  static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    return v[v.length / 2];
  }
}
