package io.arrakis.loadtest.simulate;

import io.arrakis.model.synthetic.Zipf;
import java.util.SplittableRandom;

/**
 * The gate's choices, drawn: each token picks top-k distinct experts, each pick in proportion to
 * Zipf popularity (the r-th most popular expert of a layer weighs 1/r^skew) among the experts not
 * yet picked. Each layer has its own random order of popularity, as layers of a real model disagree
 * on which experts are hot (as {@code ZipfTraces} and the synthetic generator do).
 */
final class ExpertRouting {
  /**
   * Rejection draws before a pick falls back to a scan that excludes the experts already picked.
   */
  private static final int MAX_REJECTIONS = 16;

  private final int experts;
  private final int topK;
  private final int[][] expertOfRank;
  private final double[] cumulative;

  ExpertRouting(int layers, int experts, int topK, double skew, long seed) {
    this.experts = experts;
    this.topK = topK;
    SplittableRandom random = new SplittableRandom(seed);
    expertOfRank = new int[layers][];
    for (int l = 0; l < layers; l++) {
      expertOfRank[l] = Zipf.randomOrder(experts, random::nextInt);
    }
    cumulative = Zipf.cumulativeWeights(experts, skew);
  }

  int topK() {
    return topK;
  }

  /**
   * Writes the experts of {@code tokens} tokens into {@code out} (token t's picks at [t·k, t·k +
   * k)).
   */
  void route(int layer, int tokens, SplittableRandom random, int[] out) {
    int[] order = expertOfRank[layer];
    for (int t = 0; t < tokens; t++) {
      int base = t * topK;
      for (int j = 0; j < topK; j++) {
        out[base + j] = pick(order, out, base, j, random);
      }
    }
  }

  private int pick(int[] order, int[] out, int base, int picked, SplittableRandom random) {
    double total = cumulative[experts - 1];
    for (int attempt = 0; attempt < MAX_REJECTIONS; attempt++) {
      int e = order[Zipf.rankAt(cumulative, random.nextDouble() * total)];
      if (!contains(out, base, picked, e)) {
        return e;
      }
    }
    // a strong skew with a large k: draw among the experts not picked yet
    double free = 0;
    for (int r = 0; r < experts; r++) {
      if (!contains(out, base, picked, order[r])) {
        free += weight(r);
      }
    }
    double u = random.nextDouble() * free;
    int last = -1;
    for (int r = 0; r < experts; r++) {
      if (contains(out, base, picked, order[r])) {
        continue;
      }
      last = order[r];
      u -= weight(r);
      if (u < 0) {
        return last;
      }
    }
    return last;
  }

  private double weight(int rank) {
    return rank == 0 ? cumulative[0] : cumulative[rank] - cumulative[rank - 1];
  }

  private static boolean contains(int[] out, int base, int count, int e) {
    for (int i = 0; i < count; i++) {
      if (out[base + i] == e) {
        return true;
      }
    }
    return false;
  }
}
