package io.arrakis.model.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Typed reads of config.json fields, each failure naming the field. */
final class ConfigFields {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ConfigFields() {}

  /** {@code dir/config.json} as a JSON object. */
  static JsonNode read(Path dir) throws IOException {
    Path file = dir.resolve("config.json");
    JsonNode root;
    try {
      root = JSON.readTree(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      throw new ModelConfigException("no config.json in model directory " + dir);
    } catch (JsonProcessingException e) {
      throw new ModelConfigException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw new ModelConfigException(file + ": expected a JSON object");
    }
    return root;
  }

  static boolean present(JsonNode root, String field) {
    JsonNode v = root.get(field);
    return v != null && !v.isNull();
  }

  static int requiredInt(JsonNode root, String field) {
    if (!present(root, field)) {
      throw new ModelConfigException("missing required field '" + field + "'");
    }
    return intValue(root, field);
  }

  /**
   * The first of {@code fields} present (the Hub spells some fields several ways), else missing
   * naming all.
   */
  static int requiredIntOf(JsonNode root, String... fields) {
    for (String f : fields) {
      if (present(root, f)) {
        return intValue(root, f);
      }
    }
    throw new ModelConfigException(
        "missing required field '"
            + fields[0]
            + "'"
            + (fields.length > 1
                ? " (or " + String.join(", ", List.of(fields).subList(1, fields.length)) + ")"
                : ""));
  }

  static int optionalInt(JsonNode root, String field, int dflt) {
    return present(root, field) ? intValue(root, field) : dflt;
  }

  private static int intValue(JsonNode root, String field) {
    JsonNode v = root.get(field);
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw new ModelConfigException("field '" + field + "' must be an integer, got " + v);
    }
    return v.intValue();
  }

  static double optionalDouble(JsonNode root, String field, double dflt) {
    if (!present(root, field)) {
      return dflt;
    }
    JsonNode v = root.get(field);
    if (!v.isNumber()) {
      throw new ModelConfigException("field '" + field + "' must be a number, got " + v);
    }
    return v.doubleValue();
  }

  static boolean optionalBoolean(JsonNode root, String field, boolean dflt) {
    if (!present(root, field)) {
      return dflt;
    }
    JsonNode v = root.get(field);
    if (!v.isBoolean()) {
      throw new ModelConfigException("field '" + field + "' must be true or false, got " + v);
    }
    return v.booleanValue();
  }

  static String optionalString(JsonNode root, String field, String dflt) {
    if (!present(root, field)) {
      return dflt;
    }
    JsonNode v = root.get(field);
    if (!v.isTextual()) {
      throw new ModelConfigException("field '" + field + "' must be a string, got " + v);
    }
    return v.textValue();
  }

  /** An integer list (e.g. mlp_only_layers); absent means empty. */
  static List<Integer> optionalIntList(JsonNode root, String field) {
    List<Integer> out = new ArrayList<>();
    if (!present(root, field)) {
      return out;
    }
    JsonNode v = root.get(field);
    if (!v.isArray()) {
      throw new ModelConfigException("field '" + field + "' must be a list of integers, got " + v);
    }
    for (JsonNode e : v) {
      if (!e.isIntegralNumber() || !e.canConvertToInt()) {
        throw new ModelConfigException(
            "field '" + field + "' must be a list of integers, got " + v);
      }
      out.add(e.intValue());
    }
    return out;
  }

  static void requirePositive(String field, int value) {
    if (value <= 0) {
      throw new ModelConfigException("field '" + field + "' must be positive, got " + value);
    }
  }

  /**
   * The weights' dtype in either spelling ({@code torch_dtype}, transformers 5's {@code dtype}).
   */
  static String dtype(JsonNode root) {
    return optionalString(root, "torch_dtype", optionalString(root, "dtype", "float32"));
  }

  /** A JSON value for an error message, cut to 80 characters. */
  static String abbreviated(JsonNode v) {
    String s = v.toString();
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }
}
