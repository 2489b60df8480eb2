package io.arrakis.model.placement.planner;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Observed load: tokens routed to each expert of each MoE layer. Immutable.
 *
 * <p>Two JSON forms are read:
 *
 * <ul>
 *   <li>{@code {"layers": [[tokens per expert], …]}}: row i is layer i; or {@code {"layers": {"3":
 *       [...], …}}} keyed by layer id, for models whose MoE layers are not 0..L−1;
 *   <li>the router's stats export (a {@code LoadStats} message as protobuf JSON): {@code
 *       {"experts": [{"expert": {"layer": L, "expert": E}, "tokens": N}, …]}}. As protobuf JSON
 *       does, absent fields mean 0 and 64-bit counts may be strings; experts not listed carried 0
 *       tokens.
 * </ul>
 */
public final class Loads {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final List<Integer> layers;
  private final double[][] tokens;

  private Loads(List<Integer> layers, double[][] tokens) {
    this.layers = layers;
    this.tokens = tokens;
  }

  /** {@code tokens[i][e]}: tokens of expert e in layer {@code layers.get(i)}; copied. */
  public static Loads of(List<Integer> layers, double[][] tokens) {
    if (layers.isEmpty() || layers.size() != tokens.length) {
      throw new IllegalArgumentException(
          "loads need one row per layer and at least one layer; got "
              + layers.size()
              + " layer ids and "
              + tokens.length
              + " rows");
    }
    for (int i = 1; i < layers.size(); i++) {
      if (layers.get(i) <= layers.get(i - 1)) {
        throw new IllegalArgumentException("load layer ids must be increasing, got " + layers);
      }
    }
    if (layers.get(0) < 0) {
      throw new IllegalArgumentException("load layer ids must be non-negative, got " + layers);
    }
    int experts = tokens[0].length;
    if (experts == 0) {
      throw new IllegalArgumentException("loads need at least one expert per layer");
    }
    double[][] copy = new double[tokens.length][];
    for (int i = 0; i < tokens.length; i++) {
      if (tokens[i].length != experts) {
        throw new IllegalArgumentException(
            "layer "
                + layers.get(i)
                + " has "
                + tokens[i].length
                + " experts, layer "
                + layers.get(0)
                + " has "
                + experts
                + ": every layer needs the same count");
      }
      for (int e = 0; e < experts; e++) {
        if (!(tokens[i][e] >= 0) || Double.isInfinite(tokens[i][e])) {
          throw new IllegalArgumentException(
              "tokens of expert "
                  + layers.get(i)
                  + ":"
                  + e
                  + " must be a finite non-negative number, got "
                  + tokens[i][e]);
        }
      }
      copy[i] = tokens[i].clone();
    }
    return new Loads(List.copyOf(layers), copy);
  }

  public static Loads read(Path file, OptionalInt numExperts) throws IOException {
    try {
      return parse(Files.readString(file), numExperts);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  public static Loads parse(String json) {
    return parse(json, OptionalInt.empty());
  }

  /**
   * Parses either form. {@code numExperts}, when given, is the model's experts per layer (the stats
   * form may not mention the last ones); otherwise it is the row length, or the largest expert id
   * seen + 1.
   */
  public static Loads parse(String json, OptionalInt numExperts) {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("loads are not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("loads must be a JSON object with 'layers' or 'experts'");
    }
    if (numExperts.isPresent() && numExperts.getAsInt() < 1) {
      throw new IllegalArgumentException(
          "number of experts must be at least 1, got " + numExperts.getAsInt());
    }
    boolean hasLayers = root.has("layers");
    boolean hasExperts = root.has("experts");
    if (hasLayers == hasExperts) {
      throw new IllegalArgumentException(
          hasLayers
              ? "loads have both 'layers' and 'experts'; give one form"
              : "loads need 'layers' ([[tokens per expert], …]) or 'experts' (the router's stats export)");
    }
    return hasLayers
        ? fromLayers(root.get("layers"), numExperts)
        : fromStats(root.get("experts"), numExperts);
  }

  private static Loads fromLayers(JsonNode layersNode, OptionalInt numExperts) {
    Map<Integer, JsonNode> rows = new TreeMap<>();
    Map<Integer, String> where = new TreeMap<>();
    if (layersNode.isArray()) {
      for (int i = 0; i < layersNode.size(); i++) {
        rows.put(i, layersNode.get(i));
        where.put(i, "layers[" + i + "]");
      }
    } else if (layersNode.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = layersNode.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        int id;
        try {
          id = Integer.parseInt(f.getKey());
        } catch (NumberFormatException e) {
          id = -1;
        }
        if (id < 0) {
          throw new IllegalArgumentException(
              "layers key '" + f.getKey() + "' must be a non-negative layer id");
        }
        rows.put(id, f.getValue());
        where.put(id, "layers[\"" + f.getKey() + "\"]");
      }
    } else {
      throw new IllegalArgumentException(
          "'layers' must be an array of arrays of tokens per expert");
    }
    if (rows.isEmpty()) {
      throw new IllegalArgumentException("'layers' is empty: need at least one layer");
    }
    List<Integer> ids = new ArrayList<>(rows.keySet());
    double[][] tokens = new double[ids.size()][];
    for (int i = 0; i < ids.size(); i++) {
      JsonNode row = rows.get(ids.get(i));
      String at = where.get(ids.get(i));
      if (!row.isArray()) {
        throw new IllegalArgumentException(at + " must be an array of tokens per expert");
      }
      int expected = numExperts.orElse(tokens[0] == null ? row.size() : tokens[0].length);
      if (row.size() != expected) {
        throw new IllegalArgumentException(
            at + " has " + row.size() + " experts, expected " + expected);
      }
      tokens[i] = new double[row.size()];
      for (int e = 0; e < row.size(); e++) {
        tokens[i][e] = count(row.get(e), at + "[" + e + "]");
      }
    }
    return of(ids, tokens);
  }

  private static Loads fromStats(JsonNode experts, OptionalInt numExperts) {
    if (!experts.isArray()) {
      throw new IllegalArgumentException(
          "'experts' must be an array of {\"expert\": {\"layer\", \"expert\"}, \"tokens\"}");
    }
    Map<Integer, Map<Integer, Double>> byLayer = new TreeMap<>();
    Map<String, Integer> seenAt = new TreeMap<>();
    int maxExpert = -1;
    for (int i = 0; i < experts.size(); i++) {
      String at = "experts[" + i + "]";
      JsonNode entry = experts.get(i);
      if (!entry.isObject()) {
        throw new IllegalArgumentException(at + " must be an object {\"expert\", \"tokens\"}");
      }
      onlyFields(entry, Set.of("expert", "tokens"), at);
      JsonNode ref = entry.get("expert");
      if (ref != null && !ref.isObject()) {
        throw new IllegalArgumentException(
            at + ".expert must be an object {\"layer\", \"expert\"}");
      }
      int layer = 0;
      int expert = 0;
      if (ref != null) {
        onlyFields(ref, Set.of("layer", "expert"), at + ".expert");
        layer = index(ref.get("layer"), at + ".expert.layer");
        expert = index(ref.get("expert"), at + ".expert.expert");
      }
      double tokens = entry.has("tokens") ? count(entry.get("tokens"), at + ".tokens") : 0;
      if (numExperts.isPresent() && expert >= numExperts.getAsInt()) {
        throw new IllegalArgumentException(
            at
                + ".expert.expert is "
                + expert
                + ", outside the model's "
                + numExperts.getAsInt()
                + " experts per layer");
      }
      Integer before = seenAt.put(layer + ":" + expert, i);
      if (before != null) {
        throw new IllegalArgumentException(
            at
                + " repeats expert "
                + layer
                + ":"
                + expert
                + " (already experts["
                + before
                + "]); give each expert once");
      }
      byLayer.computeIfAbsent(layer, k -> new TreeMap<>()).put(expert, tokens);
      maxExpert = Math.max(maxExpert, expert);
    }
    if (byLayer.isEmpty()) {
      throw new IllegalArgumentException("'experts' is empty: no load to plan from");
    }
    int n = numExperts.orElse(maxExpert + 1);
    List<Integer> ids = new ArrayList<>(byLayer.keySet());
    double[][] tokens = new double[ids.size()][n];
    for (int i = 0; i < ids.size(); i++) {
      for (Map.Entry<Integer, Double> e : byLayer.get(ids.get(i)).entrySet()) {
        tokens[i][e.getKey()] = e.getValue();
      }
    }
    return of(ids, tokens);
  }

  // Protobuf JSON rejects unknown fields; so do we, so that a misspelt field is not read as 0.
  private static void onlyFields(JsonNode o, Set<String> allowed, String at) {
    for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!allowed.contains(f)) {
        throw new IllegalArgumentException(
            at + " has unknown field '" + f + "' (expected " + new TreeSet<>(allowed) + ")");
      }
    }
  }

  private static int index(JsonNode v, String at) {
    if (v == null) {
      return 0;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0) {
      throw new IllegalArgumentException(at + " must be a non-negative integer");
    }
    return v.asInt();
  }

  // Counts are numbers, or decimal strings as protobuf JSON writes 64-bit integers.
  private static double count(JsonNode v, String at) {
    double d;
    if (v != null && v.isNumber()) {
      d = v.asDouble();
    } else if (v != null && v.isTextual()) {
      try {
        d = Double.parseDouble(v.asText().trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            at + " must be a non-negative number of tokens, got \"" + v.asText() + "\"");
      }
    } else {
      throw new IllegalArgumentException(at + " must be a non-negative number of tokens");
    }
    if (!(d >= 0) || Double.isInfinite(d)) {
      throw new IllegalArgumentException(
          at + " must be a finite non-negative number of tokens, got " + v);
    }
    return d;
  }

  /** MoE layer ids, increasing. */
  public List<Integer> layers() {
    return layers;
  }

  public int numLayers() {
    return layers.size();
  }

  public int numExperts() {
    return tokens[0].length;
  }

  /** Tokens per expert of the i-th layer (index into {@link #layers()}); a copy. */
  public double[] tokens(int layerIndex) {
    return tokens[layerIndex].clone();
  }

  public double tokens(int layerIndex, int expert) {
    return tokens[layerIndex][expert];
  }

  public double total(int layerIndex) {
    double s = 0;
    for (double t : tokens[layerIndex]) {
      s += t;
    }
    return s;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Loads l && l.layers.equals(layers) && Arrays.deepEquals(l.tokens, tokens);
  }

  @Override
  public int hashCode() {
    return layers.hashCode() * 31 + Arrays.deepHashCode(tokens);
  }

  @Override
  public String toString() {
    return "Loads{layers=" + layers + ", experts=" + numExperts() + "}";
  }
}
