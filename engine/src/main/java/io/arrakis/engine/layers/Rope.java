package io.arrakis.engine.layers;

import io.arrakis.model.config.RopeConfig;

/**
 * Rotary position embeddings as transformers' rope init functions compute them in float32 (default,
 * linear, YaRN with its attention factor on cos and sin), applied to halves {@code (i, i + dim/2)}
 * or, for DeepSeek, to interleaved pairs {@code (2i, 2i+1)} — whose result transformers lays out
 * de-interleaved (evens' rotations first), as here; q and k agree on it, so their dot products are
 * those of the model.
 */
public final class Rope {
  private final int dim;
  private final boolean interleaved;
  private final float[] invFreq;
  private final float attentionScaling;

  public Rope(RopeConfig c) {
    this.dim = c.dim();
    this.interleaved = c.interleaved();
    int half = dim / 2;
    float[] inv = new float[half];
    float[] posFreq = new float[half];
    for (int i = 0; i < half; i++) {
      posFreq[i] = (float) Math.pow(c.theta(), (float) (2 * i) / dim);
      inv[i] = 1f / posFreq[i];
    }
    float scaling = 1f;
    switch (c.type()) {
      case "linear" -> {
        for (int i = 0; i < half; i++) {
          inv[i] = inv[i] / (float) c.factor();
        }
      }
      case "yarn" -> {
        double factor = c.factor();
        double low = correctionDim(c.betaFast(), dim, c.theta(), c.originalMaxPositions());
        double high = correctionDim(c.betaSlow(), dim, c.theta(), c.originalMaxPositions());
        if (c.truncate()) {
          low = Math.floor(low);
          high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low == high) {
          high += 0.001;
        }
        for (int i = 0; i < half; i++) {
          // as torch: (arange(dim/2) - low) / (high - low) in float32, the span taken in double
          // first
          float ramp = Math.max(0f, Math.min(1f, ((float) i - (float) low) / (float) (high - low)));
          float extrapolation = 1f - ramp;
          float interpolated = 1f / ((float) factor * posFreq[i]);
          inv[i] = interpolated * (1f - extrapolation) + inv[i] * extrapolation;
        }
        if (!Double.isNaN(c.attentionFactor())) {
          scaling = (float) c.attentionFactor();
        } else if (c.mscale() != 0 && c.mscaleAllDim() != 0) {
          scaling =
              (float)
                  (RopeConfig.yarnMscale(factor, c.mscale())
                      / RopeConfig.yarnMscale(factor, c.mscaleAllDim()));
        } else {
          scaling = (float) RopeConfig.yarnMscale(factor, 1);
        }
      }
      default -> {}
    }
    this.invFreq = inv;
    this.attentionScaling = scaling;
  }

  private static double correctionDim(double rotations, int dim, double base, int maxPositions) {
    return dim * Math.log(maxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(base));
  }

  public int dim() {
    return dim;
  }

  /** cos and sin [rows, dim/2] of each row's position. */
  public float[][] table(int[] positions) {
    int half = dim / 2;
    float[] cos = new float[positions.length * half];
    float[] sin = new float[positions.length * half];
    for (int r = 0; r < positions.length; r++) {
      for (int i = 0; i < half; i++) {
        float f = invFreq[i] * (float) positions[r];
        cos[r * half + i] = (float) Math.cos(f) * attentionScaling;
        sin[r * half + i] = (float) Math.sin(f) * attentionScaling;
      }
    }
    return new float[][] {cos, sin};
  }

  /**
   * Rotates {@code heads} vectors of {@code dim} values, {@code stride} apart from {@code off}, of
   * row r of x in place, using the table row r.
   */
  public void apply(
      float[] x, int off, int heads, int stride, float[][] table, int r, float[] tmp) {
    int half = dim / 2;
    float[] cos = table[0];
    float[] sin = table[1];
    int t = r * half;
    for (int h = 0; h < heads; h++) {
      int a = off + h * stride;
      if (interleaved) {
        for (int i = 0; i < half; i++) {
          float even = x[a + 2 * i];
          float odd = x[a + 2 * i + 1];
          tmp[i] = even * cos[t + i] - odd * sin[t + i];
          tmp[half + i] = odd * cos[t + i] + even * sin[t + i];
        }
      } else {
        for (int i = 0; i < half; i++) {
          float x1 = x[a + i];
          float x2 = x[a + half + i];
          tmp[i] = x1 * cos[t + i] - x2 * sin[t + i];
          tmp[half + i] = x2 * cos[t + i] + x1 * sin[t + i];
        }
      }
      System.arraycopy(tmp, 0, x, a, dim);
    }
  }
}
