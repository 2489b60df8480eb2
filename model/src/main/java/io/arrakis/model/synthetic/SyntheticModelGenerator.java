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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a random Mixtral-style model (config.json + model.safetensors) whose gates route with a
 * Zipf-like popularity skew.
 *
 * <p>How the skew is made: inputs are {@code x = z⊥ + μ·u} (z Gaussian, made orthogonal to a fixed
 * unit vector u; the generator stores μ·u as {@value TensorNames#INPUT_BIAS}). Gate row e is
 * {@code r_e + (b_e/μ)·u} with r_e Gaussian and orthogonal to u, so its logit is
 * {@code r_e·z + b_e}: noise of standard deviation ≈1.28 (that of a Gumbel variable, for which top-1
 * frequencies are exactly softmax(b)) plus a bias {@code b_e = -s·ln(rank_e)}. The top-1 share of the
 * rank-r expert is therefore close to r^-s / Σ r^-s.
 */
public final class SyntheticModelGenerator {
  private static final double NOISE_STD = Math.PI / Math.sqrt(6);
  private static final double INPUT_BIAS_NORM = 8.0;

  private SyntheticModelGenerator() {}

  /** Generates into {@code dir} (created if absent). */
  public static void generate(Path dir, GeneratorOptions o) throws IOException {
    Files.createDirectories(dir);
    new ModelConfig(o.hidden(), o.ffn(), o.experts(), o.topK(), o.layers(), o.renormalize(),
        o.bf16() ? "bfloat16" : "float32").save(dir);

    StDType weightType = o.bf16() ? StDType.BF16 : StDType.F32;
    List<SafetensorsWriter.Entry> entries = new ArrayList<>();
    entries.add(new SafetensorsWriter.Entry(TensorNames.INPUT_BIAS, StDType.F32, new long[] {o.hidden()}));
    for (int l = 0; l < o.layers(); l++) {
      entries.add(new SafetensorsWriter.Entry(TensorNames.gate(l), weightType, new long[] {o.experts(), o.hidden()}));
      for (int e = 0; e < o.experts(); e++) {
        entries.add(new SafetensorsWriter.Entry(TensorNames.expert(l, e, "w1"), weightType, new long[] {o.ffn(), o.hidden()}));
        entries.add(new SafetensorsWriter.Entry(TensorNames.expert(l, e, "w2"), weightType, new long[] {o.hidden(), o.ffn()}));
        entries.add(new SafetensorsWriter.Entry(TensorNames.expert(l, e, "w3"), weightType, new long[] {o.ffn(), o.hidden()}));
      }
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("arrakis.generator", "synthetic");
    metadata.put("arrakis.skew", Double.toString(o.skew()));
    metadata.put("arrakis.seed", Long.toString(o.seed()));

    SplittableRandom random = new SplittableRandom(o.seed());
    float[] u = unitVector(random, o.hidden());
    Path tmp = dir.resolve("model.safetensors.tmp");
    try (SafetensorsWriter w = SafetensorsWriter.create(tmp, entries, metadata)) {
      float[] bias = new float[o.hidden()];
      for (int i = 0; i < bias.length; i++) {
        bias[i] = (float) (u[i] * INPUT_BIAS_NORM);
      }
      w.write(bytes(bias, StDType.F32));
      for (int l = 0; l < o.layers(); l++) {
        w.write(bytes(gate(random, o, u), weightType));
        for (int e = 0; e < o.experts(); e++) {
          w.write(bytes(gaussian(random, o.ffn() * o.hidden(), 1 / Math.sqrt(o.hidden())), weightType));
          w.write(bytes(gaussian(random, o.hidden() * o.ffn(), 1 / Math.sqrt(o.ffn())), weightType));
          w.write(bytes(gaussian(random, o.ffn() * o.hidden(), 1 / Math.sqrt(o.hidden())), weightType));
        }
      }
    }
    Files.move(tmp, dir.resolve("model.safetensors"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  private static float[] gate(SplittableRandom random, GeneratorOptions o, float[] u) {
    int d = o.hidden();
    int[] rankOf = shuffled(random, o.experts());
    float[] g = new float[o.experts() * d];
    for (int e = 0; e < o.experts(); e++) {
      float[] r = gaussian(random, d, NOISE_STD / Math.sqrt(d));
      double along = dot(r, u);
      double bias = -o.skew() * Math.log(rankOf[e] + 1);
      for (int i = 0; i < d; i++) {
        g[e * d + i] = (float) (r[i] - along * u[i] + bias / INPUT_BIAS_NORM * u[i]);
      }
    }
    return g;
  }

  private static int[] shuffled(SplittableRandom random, int n) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
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
