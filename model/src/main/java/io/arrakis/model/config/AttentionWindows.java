package io.arrakis.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Which layers attend through a sliding window, and how wide, as transformers reads config.json: a
 * query at position p sees the keys at positions p - W + 1 .. p (transformers' {@code
 * sliding_window_overlay}: {@code kv > q - W}, on top of the causal mask).
 *
 * <ul>
 *   <li>Mixtral: every layer when {@code sliding_window} is set;
 *   <li>Qwen2-MoE and Qwen3-MoE: only with {@code use_sliding_window} (transformers sets the window
 *       to none otherwise, whatever {@code sliding_window} says);
 *   <li>{@code layer_types} ({@code full_attention} / {@code sliding_attention}, written by
 *       transformers 5) names the sliding layers where given; Qwen3-MoE and Mixtral without it
 *       slide in every layer. Qwen2-MoE without it is refused: which of its layers slide has
 *       changed between transformers versions ({@code max_window_layers} counted from the top, then
 *       from the bottom and every other layer), so guessing could silently give other logits;
 *   <li>DeepSeek-V3 has no sliding window.
 * </ul>
 */
final class AttentionWindows {
  private static final String FULL = "full_attention";
  private static final String SLIDING = "sliding_attention";

  private AttentionWindows() {}

  /** For each layer, the keys a query sees: 0 for all (causal attention), else the window. */
  static List<Integer> read(JsonNode root, Family family, int layers) {
    if (family == Family.DEEPSEEK_V3) {
      return Collections.nCopies(layers, 0);
    }
    int window = window(root, family);
    List<String> types = layerTypes(root, layers);
    if (types == null) {
      if (window > 0 && family == Family.QWEN2_MOE) {
        throw new ModelConfigException(
            "use_sliding_window is set but 'layer_types' is not: which qwen2_moe layers use the "
                + "sliding window differs between transformers versions; give 'layer_types' "
                + "(one of full_attention, sliding_attention per layer)");
      }
      return Collections.nCopies(layers, window);
    }
    List<Integer> out = new ArrayList<>(layers);
    for (String t : types) {
      if (t.equals(SLIDING) && window <= 0) {
        throw new ModelConfigException(
            "'layer_types' has sliding_attention layers but no sliding window is set ("
                + (family == Family.MIXTRAL
                    ? "'sliding_window'"
                    : "'sliding_window' with 'use_sliding_window': true")
                + ")");
      }
      out.add(t.equals(SLIDING) ? window : 0);
    }
    return List.copyOf(out);
  }

  /** The window the family's config sets, 0 for none. */
  private static int window(JsonNode root, Family family) {
    boolean used =
        family == Family.MIXTRAL || ConfigFields.optionalBoolean(root, "use_sliding_window", false);
    if (!used || !ConfigFields.present(root, "sliding_window")) {
      return 0;
    }
    int w = ConfigFields.requiredInt(root, "sliding_window");
    if (w <= 0) {
      throw new ModelConfigException(
          "field 'sliding_window' must be positive when it is used, got " + w);
    }
    return w;
  }

  private static List<String> layerTypes(JsonNode root, int layers) {
    if (!ConfigFields.present(root, "layer_types")) {
      return null;
    }
    JsonNode v = root.get("layer_types");
    if (!v.isArray() || v.size() != layers) {
      throw new ModelConfigException(
          "field 'layer_types' must list one type per layer ("
              + layers
              + "), got "
              + ConfigFields.abbreviated(v));
    }
    List<String> types = new ArrayList<>(layers);
    for (JsonNode t : v) {
      if (!t.isTextual() || !(t.textValue().equals(FULL) || t.textValue().equals(SLIDING))) {
        throw new ModelConfigException(
            "unsupported layer type "
                + ConfigFields.abbreviated(t)
                + " in 'layer_types' (supported: "
                + FULL
                + ", "
                + SLIDING
                + ")");
      }
      types.add(t.textValue());
    }
    return types;
  }
}
