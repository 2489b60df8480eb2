package io.arrakis.loadtest.bench;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.MoeCombiner;
import io.arrakis.model.moe.ReferenceMoe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The in-process MoE block's throughput with several callers at once, each sending batches of the
 * same size for a fixed time: the baseline a cluster's tokens/s is divided by. Each caller has its
 * own combiner (scratch is per thread, as on an expert node) and a few inputs prepared up front, so
 * the loop times the block alone.
 */
public final class BlockThroughput {
  /** Inputs prepared per caller and cycled through. */
  private static final int INPUTS = 8;

  /**
   * How the block is driven.
   *
   * @param callers threads calling the block at once
   * @param tokens tokens per call
   * @param inputBias added to every N(0, 1) input row, as the load tester does (null: none)
   */
  public record Options(
      int callers, int tokens, Duration warmup, Duration duration, float[] inputBias, long seed) {
    public Options {
      if (callers < 1
          || tokens < 1
          || duration.isZero()
          || duration.isNegative()
          || warmup.isNegative()) {
        throw new IllegalArgumentException(
            "callers, tokens and duration must be positive, warm-up not negative");
      }
    }
  }

  /**
   * Tokens computed in the measured window (a call across its edge counts in part) and its length.
   */
  public record Result(double tokens, long calls, double seconds) {
    public double tokensPerS() {
      return tokens / seconds;
    }
  }

  private BlockThroughput() {}

  public static Result run(Gate gate, List<ExpertKernel> kernels, Options o)
      throws InterruptedException {
    ExecutorService pool = Executors.newFixedThreadPool(o.callers());
    try {
      long start = System.nanoTime() + o.warmup().toNanos();
      long end = start + o.duration().toNanos();
      List<Future<double[]>> callers = new ArrayList<>();
      for (int c = 0; c < o.callers(); c++) {
        long seed = o.seed() + c;
        callers.add(pool.submit(() -> loop(gate, kernels, o, seed, start, end)));
      }
      double tokens = 0;
      long calls = 0;
      for (Future<double[]> f : callers) {
        double[] counted = f.get();
        tokens += counted[0];
        calls += (long) counted[1];
      }
      return new Result(tokens, calls, o.duration().toNanos() / 1e9);
    } catch (ExecutionException e) {
      throw new IllegalStateException("the in-process block failed: " + e.getCause(), e.getCause());
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * Calls the block until {@code end}. A call counts with the share of its time inside [start,
   * end], so neither edge of the window biases the rate.
   */
  private static double[] loop(
      Gate gate, List<ExpertKernel> kernels, Options o, long seed, long start, long end) {
    Nd4j.getRandom().setSeed(seed);
    INDArray[] inputs = new INDArray[INPUTS];
    for (int i = 0; i < INPUTS; i++) {
      inputs[i] = Nd4j.randn(DataType.FLOAT, o.tokens(), gate.hiddenSize());
      if (o.inputBias() != null) {
        inputs[i].addiRowVector(Nd4j.createFromArray(o.inputBias()));
      }
    }
    MoeCombiner combiner = new MoeCombiner();
    double tokens = 0;
    long calls = 0;
    for (int i = 0; ; i++) {
      long began = System.nanoTime();
      if (began >= end) {
        return new double[] {tokens, calls};
      }
      INDArray x = inputs[i % INPUTS];
      Routing routing = gate.route(x);
      combiner.combine(x, ReferenceMoe.plan(routing, kernels));
      long done = System.nanoTime();
      long inside = Math.min(done, end) - Math.max(began, start);
      if (inside > 0) {
        tokens += (double) o.tokens() * inside / Math.max(1, done - began);
        calls++;
      }
    }
  }
}
