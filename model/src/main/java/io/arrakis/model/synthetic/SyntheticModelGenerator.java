package io.arrakis.model.synthetic;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.moe.TensorNames;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tensor.Bf16;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a random Mixtral-style model (config.json + model.safetensors) whose gates route with a
 * Zipf-like popularity skew.
 *
 * <p>How the skew is made: inputs are {@code x = z⊥ + μ·u} (z Gaussian, made orthogonal to a fixed
 * unit vector u; the generator stores μ·u as {@value TensorNames#INPUT_BIAS}). Gate row e is {@code
 * r_e + (b_e/μ)·u} with r_e orthogonal to u, of norm σ = π/√6 and, where the hidden size allows it
 * (E &lt; d), orthogonal to the other rows' r_f; so its logit is {@code r_e·z + b_e}: independent
 * Gaussian noise of standard deviation σ plus a bias b_e. The biases are solved for numerically
 * (see {@link #popularityBiases}) so that the top-1 share of the rank-r expert is r^-s / Σ r^-s.
 * (Setting {@code b = -s·ln(rank)} would give exactly these shares only for Gumbel noise; with
 * Gaussian noise the hottest experts would take far more than their share.)
 */
public final class SyntheticModelGenerator {
  private static final double NOISE_STD = Math.PI / Math.sqrt(6);
  private static final double INPUT_BIAS_NORM = 8.0;

  private SyntheticModelGenerator() {}

  /** Generates into {@code dir} (created if absent). */
  public static void generate(Path dir, GeneratorOptions o) throws IOException {
    Files.createDirectories(dir);
    new ModelConfig(
            o.hidden(),
            o.ffn(),
            o.experts(),
            o.topK(),
            o.layers(),
            o.renormalize(),
            o.bf16() ? "bfloat16" : "float32")
        .save(dir);

    StDType weightType = o.bf16() ? StDType.BF16 : StDType.F32;
    List<SafetensorsWriter.Entry> entries = new ArrayList<>();
    entries.add(
        new SafetensorsWriter.Entry(TensorNames.INPUT_BIAS, StDType.F32, new long[] {o.hidden()}));
    for (int l = 0; l < o.layers(); l++) {
      entries.add(
          new SafetensorsWriter.Entry(
              TensorNames.gate(l), weightType, new long[] {o.experts(), o.hidden()}));
      for (int e = 0; e < o.experts(); e++) {
        entries.add(
            new SafetensorsWriter.Entry(
                TensorNames.expert(l, e, "w1"), weightType, new long[] {o.ffn(), o.hidden()}));
        entries.add(
            new SafetensorsWriter.Entry(
                TensorNames.expert(l, e, "w2"), weightType, new long[] {o.hidden(), o.ffn()}));
        entries.add(
            new SafetensorsWriter.Entry(
                TensorNames.expert(l, e, "w3"), weightType, new long[] {o.ffn(), o.hidden()}));
      }
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("arrakis.generator", "synthetic");
    metadata.put("arrakis.skew", Double.toString(o.skew()));
    metadata.put("arrakis.seed", Long.toString(o.seed()));

    SplittableRandom random = new SplittableRandom(o.seed());
    float[] u = unitVector(random, o.hidden());
    double[] biasOfRank = popularityBiases(o.experts(), o.skew());
    Path tmp = dir.resolve("model.safetensors.tmp");
    try (SafetensorsWriter w = SafetensorsWriter.create(tmp, entries, metadata)) {
      float[] bias = new float[o.hidden()];
      for (int i = 0; i < bias.length; i++) {
        bias[i] = (float) (u[i] * INPUT_BIAS_NORM);
      }
      w.write(bytes(bias, StDType.F32));
      for (int l = 0; l < o.layers(); l++) {
        w.write(bytes(gate(random, o, u, biasOfRank), weightType));
        for (int e = 0; e < o.experts(); e++) {
          w.write(
              bytes(gaussian(random, o.ffn() * o.hidden(), 1 / Math.sqrt(o.hidden())), weightType));
          w.write(
              bytes(gaussian(random, o.hidden() * o.ffn(), 1 / Math.sqrt(o.ffn())), weightType));
          w.write(
              bytes(gaussian(random, o.ffn() * o.hidden(), 1 / Math.sqrt(o.hidden())), weightType));
        }
      }
    }
    Files.move(tmp, dir.resolve("model.safetensors"), StandardCopyOption.REPLACE_EXISTING);
  }

  private static float[] gate(
      SplittableRandom random, GeneratorOptions o, float[] u, double[] biasOfRank) {
    int d = o.hidden();
    int n = o.experts();
    int[] rankOf = Zipf.randomOrder(n, random::nextInt);
    double[][] noise = noiseDirections(random, n, u);
    float[] g = new float[n * d];
    for (int e = 0; e < n; e++) {
      double bias = biasOfRank[rankOf[e]];
      for (int i = 0; i < d; i++) {
        g[e * d + i] = (float) (noise[e][i] + bias / INPUT_BIAS_NORM * u[i]);
      }
    }
    return g;
  }

  /**
   * n random vectors of norm σ, orthogonal to u and, when n &lt; d, to each other (Gram-Schmidt),
   * so that their dot products with z⊥ are independent N(0, σ²) noises.
   */
  private static double[][] noiseDirections(SplittableRandom random, int n, float[] u) {
    int d = u.length;
    double[] ud = toDouble(u);
    boolean mutual = n < d;
    double[][] r = new double[n][];
    for (int e = 0; e < n; e++) {
      double[] v = new double[d];
      for (int i = 0; i < d; i++) {
        v[i] = random.nextGaussian();
      }
      for (int pass = 0; pass < 2; pass++) { // twice, for orthogonality to rounding precision
        subtractProjection(v, ud);
        for (int f = 0; mutual && f < e; f++) {
          subtractProjection(v, r[f]);
        }
      }
      double norm = Math.sqrt(dot(v, v));
      for (int i = 0; i < d; i++) {
        v[i] = norm > 1e-9 ? v[i] / norm * NOISE_STD : 0; // d = 1 leaves no room for noise
      }
      r[e] = v;
    }
    return r;
  }

  private static void subtractProjection(double[] v, double[] w) {
    double ww = dot(w, w);
    if (ww == 0) {
      return;
    }
    double c = dot(v, w) / ww;
    for (int i = 0; i < v.length; i++) {
      v[i] -= c * w[i];
    }
  }

  /**
   * Logit biases b (by popularity rank, b[0] = 0 the largest) for which the top-1 choice among n
   * experts with logits b_r + independent N(0, σ²) noise falls on rank r with probability r^-s / Σ
   * r^-s. Solved by damped Newton steps on each ln P_r, where, in units of σ, P_r(c) = ∫ φ(t − c_r)
   * Π_{q≠r} Φ(t − c_q) dt.
   */
  static double[] popularityBiases(int n, double skew) {
    double[] target = new double[n];
    double total = 0;
    for (int r = 0; r < n; r++) {
      target[r] = Math.pow(r + 1, -skew);
      total += target[r];
    }
    double[] c = new double[n];
    for (int r = 0; r < n; r++) {
      target[r] /= total;
      c[r] = Math.log(target[r] * n) / NOISE_STD; // the Gumbel answer: a good start
    }
    if (skew == 0 || n == 1) {
      return new double[n];
    }
    double[] p = new double[n];
    double[] dp = new double[n];
    for (int iter = 0; iter < 200; iter++) {
      winProbabilities(c, p, dp);
      double worst = 0;
      for (int r = 0; r < n; r++) {
        worst = Math.max(worst, Math.abs(p[r] / target[r] - 1));
      }
      if (worst < 1e-5) {
        break;
      }
      for (int r = 0; r < n; r++) {
        // where r never wins on the grid (a vanishing target), push its bias up by the largest step
        double step = p[r] > 0 && dp[r] > 0 ? Math.log(target[r] / p[r]) / (dp[r] / p[r]) : 1;
        c[r] += 0.7 * Math.max(-1, Math.min(1, step));
      }
      double max = Arrays.stream(c).max().orElseThrow();
      for (int r = 0; r < n; r++) {
        c[r] -= max;
      }
    }
    double[] b = new double[n];
    for (int r = 0; r < n; r++) {
      b[r] = c[r] * NOISE_STD;
    }
    return b;
  }

  /**
   * For standard normal noise around means c: p[r], the probability that r has the largest value,
   * and dp[r] = ∂p[r]/∂c[r]; trapezoid rule on a fine grid.
   */
  private static void winProbabilities(double[] c, double[] p, double[] dp) {
    int n = c.length;
    double lo = Arrays.stream(c).min().orElseThrow() - 9;
    double hi = Arrays.stream(c).max().orElseThrow() + 9;
    double step = 0.02;
    int points = (int) Math.ceil((hi - lo) / step) + 1;
    Arrays.fill(p, 0);
    Arrays.fill(dp, 0);
    double[] cdf = new double[n];
    double[] pdf = new double[n];
    for (int j = 0; j < points; j++) {
      double t = lo + j * step;
      double logAll = 0; // ln Π_q Φ(t − c_q)
      double hazard = 0; // Σ_q φ(t − c_q) / Φ(t − c_q)
      for (int q = 0; q < n; q++) {
        cdf[q] = normalCdf(t - c[q]);
        pdf[q] = Math.exp(-0.5 * (t - c[q]) * (t - c[q])) / Math.sqrt(2 * Math.PI);
        logAll += Math.log(Math.max(cdf[q], Double.MIN_NORMAL));
        hazard += cdf[q] > 0 ? pdf[q] / cdf[q] : 0;
      }
      for (int r = 0; r < n; r++) {
        if (cdf[r] <= 0) {
          continue;
        }
        double others = Math.exp(logAll - Math.log(cdf[r])); // Π_{q≠r} Φ(t − c_q)
        p[r] += pdf[r] * others * step;
        dp[r] += pdf[r] * others * (hazard - pdf[r] / cdf[r]) * step;
      }
    }
  }

  /** Φ(x) via erfc with fractional error below 1.2e-7 everywhere (Numerical Recipes' erfcc). */
  private static double normalCdf(double x) {
    double z = Math.abs(x) / Math.sqrt(2);
    double t = 1 / (1 + 0.5 * z);
    double erfc =
        t
            * Math.exp(
                -z * z
                    - 1.26551223
                    + t
                        * (1.00002368
                            + t
                                * (0.37409196
                                    + t
                                        * (0.09678418
                                            + t
                                                * (-0.18628806
                                                    + t
                                                        * (0.27886807
                                                            + t
                                                                * (-1.13520398
                                                                    + t
                                                                        * (1.48851587
                                                                            + t
                                                                                * (-0.82215223
                                                                                    + t
                                                                                        * 0.17087277)))))))));
    return x >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
  }

  private static double[] toDouble(float[] a) {
    double[] out = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i];
    }
    return out;
  }

  private static float[] unitVector(SplittableRandom random, int d) {
    float[] v = gaussian(random, d, 1);
    double norm = Math.sqrt(dot(v, v));
    for (int i = 0; i < d; i++) {
      v[i] /= (float) norm;
    }
    return v;
  }

  private static float[] gaussian(SplittableRandom random, int n, double std) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (random.nextGaussian() * std);
    }
    return a;
  }

  private static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  private static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return s;
  }

  static ByteBuffer bytes(float[] values, StDType type) {
    if (type == StDType.F32) {
      ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(values);
      return b;
    }
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putShort(Bf16.fromFloat(v));
    }
    return b.flip();
  }
}
