package io.arrakis.model.synthetic;

/**
 * What the synthetic model generator makes.
 *
 * @param layers transformer layers, each with an MoE block
 * @param experts experts per layer
 * @param hidden hidden size d
 * @param ffn expert FFN size
 * @param topK experts per token
 * @param renormalize whether the k gate weights are renormalised (config norm_topk_prob)
 * @param bf16 store weights as bfloat16 instead of float32
 * @param skew Zipf exponent s of expert popularity: the r-th most popular expert of a layer gets
 *     about 1/r^s of the top-1 traffic; 0 = uniform. Which experts are hot differs per layer.
 * @param seed random seed; the same options and seed give the same bytes
 */
public record GeneratorOptions(
    int layers,
    int experts,
    int hidden,
    int ffn,
    int topK,
    boolean renormalize,
    boolean bf16,
    double skew,
    long seed) {

  public GeneratorOptions {
    if (layers <= 0 || experts <= 0 || hidden <= 0 || ffn <= 0) {
      throw new IllegalArgumentException("layers, experts, hidden and ffn must be positive");
    }
    if (topK < 1 || topK > experts) {
      throw new IllegalArgumentException("top-k must be in 1.." + experts + ", got " + topK);
    }
    if (skew < 0 || Double.isNaN(skew)) {
      throw new IllegalArgumentException("skew must be ≥ 0, got " + skew);
    }
  }
}
