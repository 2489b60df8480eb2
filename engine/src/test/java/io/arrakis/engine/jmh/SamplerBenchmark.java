package io.arrakis.engine.jmh;

import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.engine.sampling.TokenLogprobs;
import java.util.Arrays;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
 * Picking one sequence's next token on the router's scheduler thread, per token: the sampler
 * against the way it worked before (every token sorted by probability, boxed), and the cost of a
 * token's log-probabilities with its 5 most likely alternatives. {@code shape}: "peaked" logits (a
 * trained model's: a few tokens hold most of the mass) or "flat" ones (a wide nucleus, as at a high
 * temperature).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class SamplerBenchmark {
  /** Mixtral's and DeepSeek-V3's vocabularies are 32,000 and 129,280; Qwen's 151,936. */
  @Param({"32000", "151936"})
  int vocab;

  /** temperature 1 with: all tokens, top-p 0.95, top-k 50. */
  @Param({"all", "top_p", "top_k"})
  String filter;

  @Param({"peaked", "flat"})
  String shape;

  private float[] logits;
  private Sampler sampler;
  private SamplingParams params;
  private SplittableRandom random;
  private Integer[] order;

  @Setup
  public void setUp() {
    SplittableRandom r = new SplittableRandom(1);
    logits = new float[vocab];
    for (int i = 0; i < vocab; i++) {
      logits[i] = (float) (shape.equals("peaked") ? 3 * r.nextGaussian() : 0.3 * r.nextGaussian());
    }
    if (shape.equals("peaked")) {
      for (int i = 0; i < 8; i++) {
        logits[r.nextInt(vocab)] = 18f - i;
      }
    }
    params = SamplingParams.greedy(1, Set.of()).withTemperature(1f).withSeed(7);
    if (filter.equals("top_p")) {
      params = params.withTopP(0.95f);
    } else if (filter.equals("top_k")) {
      params = params.withTopK(50);
    }
    sampler = new Sampler(params);
    random = new SplittableRandom(7);
    order = new Integer[vocab];
  }

  @Benchmark
  public int sampler() {
    return sampler.next(logits, 0, vocab);
  }

  @Benchmark
  public TokenLogprobs logprobsTop5() {
    return TokenLogprobs.of(logits, 0, vocab, 3, 5);
  }

  /** The sampler as it was (up to 2026-12-06): softmax, then every token sorted, boxed. */
  @Benchmark
  public int sortEveryToken() {
    double[] p = new double[vocab];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      p[i] = logits[i] / (double) params.temperature();
      max = Math.max(max, p[i]);
    }
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      p[i] = Math.exp(p[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < vocab; i++) {
      order[i] = i;
      p[i] /= sum;
    }
    Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
    int keep = params.topK() > 0 ? Math.min(params.topK(), vocab) : vocab;
    double mass = 0;
    int kept = 0;
    while (kept < keep) {
      mass += p[order[kept]];
      kept++;
      if (mass >= params.topP()) {
        break;
      }
    }
    double u = random.nextDouble() * mass;
    double acc = 0;
    for (int i = 0; i < kept; i++) {
      acc += p[order[i]];
      if (u < acc) {
        return order[i];
      }
    }
    return order[kept - 1];
  }
}
