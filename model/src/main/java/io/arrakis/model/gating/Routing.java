package io.arrakis.model.gating;

/**
 * The gate's decision for T tokens: for each token its k experts, by descending probability, and
 * their weights. Row-major [T, k] arrays.
 */
public record Routing(int tokens, int k, int[] ids, float[] weights) {

  public Routing {
    if (ids.length != tokens * k || weights.length != tokens * k) {
      throw new IllegalArgumentException(
          "ids and weights must hold tokens * k = " + tokens * k + " entries");
    }
  }

  public int expert(int token, int rank) {
    return ids[token * k + rank];
  }

  public float weight(int token, int rank) {
    return weights[token * k + rank];
  }
}
