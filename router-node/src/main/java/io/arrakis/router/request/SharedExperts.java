package io.arrakis.router.request;

import io.arrakis.engine.DecoderModel;
import io.arrakis.engine.layers.DecoderLayer;
import io.arrakis.engine.layers.FeedForward;
import io.arrakis.model.moe.MoeModel;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The shared experts of a model's MoE layers, run on the router (Qwen2-MoE's sigmoid-gated shared
 * expert, DeepSeek's shared experts): a Forward call's answer is the MoE block's whole output,
 * routed experts plus shared expert, as {@code moe_out_L} of the reference files. Thread-safe.
 */
public final class SharedExperts {
  public static final SharedExperts NONE = new SharedExperts(Map.of());

  @FunctionalInterface
  private interface Block {
    void apply(float[] x, int n, float[] out);
  }

  private final Map<Integer, Block> blocks;

  private SharedExperts(Map<Integer, Block> blocks) {
    this.blocks = Map.copyOf(blocks);
  }

  /**
   * Loads every MoE layer's shared expert from the model's files (a router without the decoder).
   */
  public static SharedExperts load(MoeModel model) throws IOException {
    Map<Integer, Block> out = new HashMap<>();
    for (int layer : model.moeLayers()) {
      Optional<MoeModel.SharedExpert> s = model.sharedExpert(layer);
      if (s.isPresent()) {
        FeedForward f = new FeedForward(s.get().kernel(), s.get().gate().orElse(null));
        out.put(layer, f::apply);
      }
    }
    return new SharedExperts(out);
  }

  /** The decoder's own shared experts (a router serving the whole model holds them once). */
  public static SharedExperts of(DecoderModel decoder) {
    Map<Integer, Block> out = new HashMap<>();
    for (DecoderLayer l : decoder.layers()) {
      if (l.isMoe() && l.moe().hasShared()) {
        out.put(l.index(), l.moe()::shared);
      }
    }
    return new SharedExperts(out);
  }

  public boolean has(int layer) {
    return blocks.containsKey(layer);
  }

  /** The shared expert's output [n, d] for x [n, d] of {@code layer}, or null when it has none. */
  public float[] compute(int layer, float[] x, int n) {
    Block b = blocks.get(layer);
    if (b == null) {
      return null;
    }
    float[] out = new float[x.length];
    b.apply(x, n, out);
    return out;
  }
}
