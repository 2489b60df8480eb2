package io.arrakis.model.placement.planner;

import io.arrakis.model.synthetic.Zipf;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Synthetic skewed loads: expert popularity follows Zipf's law (the i-th most popular expert gets
 * weight 1/i^s), each layer with its own random order of experts (layers of a real model disagree
 * on which experts are hot), and counts drawn from that distribution (multinomial), so they carry
 * sampling noise as observed counts do. Deterministic for a seed ({@link Random} is specified).
 */
public final class ZipfTraces {
  private ZipfTraces() {}

  public static Loads generate(
      int layers, int experts, double exponent, long tokensPerLayer, long seed) {
    if (layers < 1 || experts < 1 || tokensPerLayer < 0 || exponent < 0) {
      throw new IllegalArgumentException(
          "need layers >= 1, experts >= 1, tokens >= 0, exponent >= 0");
    }
    Random random = new Random(seed);
    List<Integer> ids = new ArrayList<>();
    double[][] tokens = new double[layers][];
    for (int l = 0; l < layers; l++) {
      ids.add(l);
      tokens[l] = layer(experts, exponent, tokensPerLayer, random);
    }
    return Loads.of(ids, tokens);
  }

  private static double[] layer(int experts, double exponent, long tokens, Random random) {
    int[] order = Zipf.randomOrder(experts, random::nextInt);
    double[] cumulative = Zipf.cumulativeWeights(experts, exponent);
    double sum = cumulative[experts - 1];
    double[] counts = new double[experts];
    for (long t = 0; t < tokens; t++) {
      counts[order[Zipf.rankAt(cumulative, random.nextDouble() * sum)]]++;
    }
    return counts;
  }
}
