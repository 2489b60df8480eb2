package io.arrakis.expert.gpucheck;

import io.arrakis.model.kernel.backend.ExpertWeights;
import java.util.Arrays;

/**
 * The float reference for the GPU check, in plain Java with double sums: the gates of the four
 * families (softmax top-k, optionally renormalised; DeepSeek-V3's sigmoid scores with the
 * correction bias for selection only, group-limited top-k and the routed scaling factor) and SwiGLU
 * experts. Written from Hugging Face transformers' modeling code; independent of the model module.
 */
final class MoeReference {
  private MoeReference() {}

  /** Chosen experts and their weights for each token: ids[t][j], weights[t][j]. */
  record Routing(int[][] ids, float[][] weights) {}

  /**
   * Softmax over all experts, top-k (ties to the lower id), renormalised when asked (Mixtral
   * always).
   */
  static Routing softmaxTopK(float[][] logits, int k, boolean renormalise) {
    int tokens = logits.length;
    int[][] ids = new int[tokens][];
    float[][] weights = new float[tokens][k];
    for (int t = 0; t < tokens; t++) {
      double max = Double.NEGATIVE_INFINITY;
      for (float v : logits[t]) {
        max = Math.max(max, v);
      }
      double[] p = new double[logits[t].length];
      double sum = 0;
      for (int e = 0; e < p.length; e++) {
        p[e] = Math.exp(logits[t][e] - max);
        sum += p[e];
      }
      for (int e = 0; e < p.length; e++) {
        p[e] /= sum;
      }
      ids[t] = topK(p, k);
      double norm = 0;
      for (int j = 0; j < k; j++) {
        norm += p[ids[t][j]];
      }
      for (int j = 0; j < k; j++) {
        weights[t][j] = (float) (renormalise ? p[ids[t][j]] / norm : p[ids[t][j]]);
      }
    }
    return new Routing(ids, weights);
  }

  /**
   * DeepSeek-V3: sigmoid scores; selection on scores + bias, only among the topk_group groups whose
   * two best scores sum highest (experts outside them count as 0.0, as transformers' masked_fill
   * does); weights are the plain scores, renormalised (+1e-20) when norm_topk_prob, times the
   * scale.
   */
  static Routing deepseek(
      float[][] logits,
      float[] bias,
      int k,
      int groups,
      int topkGroup,
      boolean renormalise,
      double scale) {
    int tokens = logits.length;
    int experts = bias.length;
    int per = experts / groups;
    int[][] ids = new int[tokens][];
    float[][] weights = new float[tokens][k];
    for (int t = 0; t < tokens; t++) {
      double[] scores = new double[experts];
      double[] choice = new double[experts];
      for (int e = 0; e < experts; e++) {
        scores[e] = 1 / (1 + Math.exp(-logits[t][e]));
        choice[e] = scores[e] + bias[e];
      }
      double[] groupScore = new double[groups];
      for (int g = 0; g < groups; g++) {
        double[] in = Arrays.copyOfRange(choice, g * per, (g + 1) * per);
        int[] two = topK(in, Math.min(2, per));
        for (int i : two) {
          groupScore[g] += in[i];
        }
      }
      int[] chosenGroups = topK(groupScore, topkGroup);
      double[] masked = new double[experts];
      for (int g : chosenGroups) {
        for (int e = g * per; e < (g + 1) * per; e++) {
          masked[e] = choice[e];
        }
      }
      ids[t] = topK(masked, k);
      double norm = 1e-20;
      for (int j = 0; j < k; j++) {
        norm += scores[ids[t][j]];
      }
      for (int j = 0; j < k; j++) {
        double w = renormalise ? scores[ids[t][j]] / norm : scores[ids[t][j]];
        weights[t][j] = (float) (w * scale);
      }
    }
    return new Routing(ids, weights);
  }

  /** Indices of the k largest values, largest first, ties to the lower index. */
  static int[] topK(double[] v, int k) {
    Integer[] order = new Integer[v.length];
    for (int i = 0; i < v.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> v[a] != v[b] ? Double.compare(v[b], v[a]) : Integer.compare(a, b));
    int[] out = new int[k];
    for (int i = 0; i < k; i++) {
      out[i] = order[i];
    }
    return out;
  }

  /** x · Wᵀ for W [rows, cols] given as a float row-major array. */
  static float[][] linear(float[][] x, float[] w, int rows, int cols) {
    float[][] out = new float[x.length][rows];
    for (int t = 0; t < x.length; t++) {
      for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++) {
          s += (double) w[r * cols + c] * x[t][c];
        }
        out[t][r] = (float) s;
      }
    }
    return out;
  }

  /** One SwiGLU expert's output for one token, in double. */
  static double[] expert(ExpertWeights w, float[] x) {
    int d = w.hiddenSize();
    int ff = w.ffnSize();
    double[] h = new double[ff];
    for (int j = 0; j < ff; j++) {
      double g = 0;
      double u = 0;
      for (int i = 0; i < d; i++) {
        g += (double) w.gate().get((long) j * d + i) * x[i];
        u += (double) w.up().get((long) j * d + i) * x[i];
      }
      h[j] = g / (1 + Math.exp(-g)) * u;
    }
    double[] y = new double[d];
    for (int c = 0; c < d; c++) {
      double s = 0;
      for (int j = 0; j < ff; j++) {
        s += w.down().get((long) c * ff + j) * h[j];
      }
      y[c] = s;
    }
    return y;
  }

  /** Σ weight × expert(x) per token over the routing, in double then float. */
  static float[][] routed(ExpertWeights[] experts, float[][] x, Routing r) {
    float[][] out = new float[x.length][];
    for (int t = 0; t < x.length; t++) {
      double[] acc = new double[x[t].length];
      for (int j = 0; j < r.ids()[t].length; j++) {
        double[] y = expert(experts[r.ids()[t][j]], x[t]);
        for (int c = 0; c < acc.length; c++) {
          acc[c] += r.weights()[t][j] * y[c];
        }
      }
      out[t] = toFloat(acc);
    }
    return out;
  }

  static float[] toFloat(double[] v) {
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (float) v[i];
    }
    return out;
  }
}
