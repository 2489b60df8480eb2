package io.arrakis.loadtest.bench;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import io.arrakis.model.moe.ReferenceMoe;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Times one in-process MoE block (gate, top-k, experts, weighted sum: what {@code model reference}
 * computes) on random weights: warm-up, then the median of timed repeats for each token count, by
 * wall clock and by the calling thread's CPU time. With one BLAS thread all the work runs on the
 * calling thread, so on a shared machine the CPU time is what the block costs whatever else runs.
 */
public final class KernelBench {
  /** What to time. */
  public record Options(
      int hidden,
      int ffn,
      int experts,
      int topK,
      List<Integer> tokens,
      int threads,
      int repeats,
      long seed) {
    public Options {
      if (hidden < 1
          || ffn < 1
          || experts < 1
          || topK < 1
          || topK > experts
          || repeats < 1
          || threads < 1) {
        throw new IllegalArgumentException(
            "hidden, ffn, experts, repeats and threads must be positive and 1 <= top-k <= experts");
      }
      tokens = List.copyOf(tokens);
    }
  }

  /**
   * One token count's figures: tokens per second and GFLOP/s from the median repeat by wall clock,
   * and the median CPU time of the calling thread.
   */
  public record Result(
      int tokens, double medianMillis, double tokensPerS, double gflops, double cpuMedianMillis) {}

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  private KernelBench() {}

  public static List<Result> run(Options o) {
    Blas.threads(o.threads());
    Nd4j.getRandom().setSeed(o.seed());
    float scale = (float) (1 / Math.sqrt(o.hidden()));
    Gate gate =
        new Gate(Nd4j.randn(DataType.FLOAT, o.experts(), o.hidden()).muli(scale), o.topK(), true);
    List<ExpertKernel> kernels = new ArrayList<>();
    for (int e = 0; e < o.experts(); e++) {
      kernels.add(
          ExpertKernel.fromHf(
              Nd4j.randn(DataType.FLOAT, o.ffn(), o.hidden()).muli(scale),
              Nd4j.randn(DataType.FLOAT, o.ffn(), o.hidden()).muli(scale),
              Nd4j.randn(DataType.FLOAT, o.hidden(), o.ffn())
                  .muli((float) (1 / Math.sqrt(o.ffn())))));
    }
    MoeCombiner combiner = new MoeCombiner();
    List<Result> out = new ArrayList<>();
    for (int t : o.tokens()) {
      INDArray x = Nd4j.randn(DataType.FLOAT, t, o.hidden());
      long warmUntil = System.nanoTime() + 1_000_000_000L;
      for (int i = 0; i < 3 || (System.nanoTime() < warmUntil && i < 50); i++) {
        forward(gate, kernels, combiner, x);
      }
      double[] millis = new double[o.repeats()];
      double[] cpuMillis = new double[o.repeats()];
      for (int r = 0; r < o.repeats(); r++) {
        long cpu = THREADS.getCurrentThreadCpuTime();
        long start = System.nanoTime();
        forward(gate, kernels, combiner, x);
        millis[r] = (System.nanoTime() - start) / 1e6;
        cpuMillis[r] = (THREADS.getCurrentThreadCpuTime() - cpu) / 1e6;
      }
      double median = median(millis);
      double flops = 2.0 * t * o.hidden() * o.experts() + 6.0 * t * o.topK() * o.hidden() * o.ffn();
      out.add(
          new Result(
              t, median, t / (median / 1e3), flops / (median / 1e3) / 1e9, median(cpuMillis)));
    }
    return out;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  private static void forward(
      Gate gate, List<ExpertKernel> kernels, MoeCombiner combiner, INDArray x) {
    Routing routing = gate.route(x);
    List<ExpertWork> work = ReferenceMoe.plan(routing, kernels);
    combiner.combine(x, work);
  }
}
