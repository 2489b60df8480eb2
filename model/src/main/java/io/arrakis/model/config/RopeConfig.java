package io.arrakis.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.util.Set;

/**
 * Rotary position embedding settings, read from either spelling found on the Hub: the classic
 * {@code rope_theta} + {@code rope_scaling {type|rope_type, factor, …}} or transformers 5's {@code
 * rope_parameters {rope_theta, rope_type, …}}.
 *
 * @param type "default", "linear" or "yarn"
 * @param theta the base
 * @param dim how many dimensions of a head rotate
 * @param interleaved pairs (0,1),(2,3)… rotate (DeepSeek) rather than halves (i, i + dim/2)
 * @param factor the scaling factor (1 for default)
 * @param originalMaxPositions YaRN's {@code original_max_position_embeddings}
 * @param betaFast YaRN's fast boundary (rotations)
 * @param betaSlow YaRN's slow boundary
 * @param mscale YaRN's {@code mscale} (0 when absent)
 * @param mscaleAllDim YaRN's {@code mscale_all_dim} (0 when absent)
 * @param attentionFactor YaRN's explicit {@code attention_factor}, NaN when absent
 * @param truncate YaRN's {@code truncate} of the correction range (default true)
 */
public record RopeConfig(
    String type,
    double theta,
    int dim,
    boolean interleaved,
    double factor,
    int originalMaxPositions,
    double betaFast,
    double betaSlow,
    double mscale,
    double mscaleAllDim,
    double attentionFactor,
    boolean truncate) {

  private static final Set<String> TYPES = Set.of("default", "linear", "yarn");

  /** Reads the RoPE fields of a config.json object for {@code dim} rotating dimensions. */
  static RopeConfig fromJson(JsonNode root, int dim, boolean interleaved, int maxPositions) {
    JsonNode params = root.get("rope_parameters");
    String where = "rope_parameters";
    if (params == null || params.isNull()) {
      params = root.get("rope_scaling");
      where = "rope_scaling";
    }
    if (params == null || params.isNull()) {
      params = JsonNodeFactory.instance.objectNode();
    } else if (!params.isObject()) {
      throw new ModelConfigException("field '" + where + "' must be an object, got " + params);
    }
    double theta =
        ConfigFields.optionalDouble(
            params, "rope_theta", ConfigFields.optionalDouble(root, "rope_theta", 10000.0));
    String type =
        ConfigFields.optionalString(
            params, "rope_type", ConfigFields.optionalString(params, "type", "default"));
    if (!TYPES.contains(type)) {
      throw new ModelConfigException(
          "field '"
              + where
              + "': unsupported rope type '"
              + type
              + "' (supported: default, linear, yarn)");
    }
    double factor = ConfigFields.optionalDouble(params, "factor", 1.0);
    if (!type.equals("default") && !ConfigFields.present(params, "factor")) {
      throw new ModelConfigException(
          "missing required field '" + where + ".factor' for rope type " + type);
    }
    int originalMax =
        ConfigFields.optionalInt(params, "original_max_position_embeddings", maxPositions);
    return new RopeConfig(
        type,
        theta,
        dim,
        interleaved,
        factor,
        originalMax,
        ConfigFields.optionalDouble(params, "beta_fast", 32),
        ConfigFields.optionalDouble(params, "beta_slow", 1),
        ConfigFields.optionalDouble(params, "mscale", 0),
        ConfigFields.optionalDouble(params, "mscale_all_dim", 0),
        ConfigFields.optionalDouble(params, "attention_factor", Double.NaN),
        ConfigFields.optionalBoolean(params, "truncate", true));
  }

  /** YaRN's magnitude correction {@code 0.1·m·ln(s) + 1} (1 for s ≤ 1). */
  public static double yarnMscale(double scale, double m) {
    return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
  }
}
