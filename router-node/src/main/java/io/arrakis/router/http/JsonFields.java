package io.arrakis.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Locale;

/**
 * Reading a request body's fields: each of the wrong type or out of range is a 400 naming the
 * field, with the client's value cut short.
 */
final class JsonFields {
  private JsonFields() {}

  static double number(JsonNode root, String field, double otherwise, double min, double max)
      throws ApiError {
    JsonNode n = present(root, field);
    if (n == null) {
      return otherwise;
    }
    if (!n.isNumber()
        || !Double.isFinite(n.asDouble())
        || n.asDouble() < min
        || n.asDouble() > max) {
      throw ApiError.invalid(
          field,
          field
              + " must be a number between "
              + min
              + " and "
              + max
              + ", got "
              + abbreviate(n.toString()));
    }
    return n.asDouble();
  }

  static long integer(JsonNode root, String field, long otherwise) throws ApiError {
    JsonNode n = present(root, field);
    if (n == null) {
      return otherwise;
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt()) {
      throw ApiError.invalid(field, field + " must be an integer, got " + abbreviate(n.toString()));
    }
    return n.asLong();
  }

  static boolean bool(JsonNode root, String field) throws ApiError {
    return bool(root, field, field);
  }

  static boolean bool(JsonNode object, String field, String name) throws ApiError {
    JsonNode n = present(object, field);
    if (n == null) {
      return false;
    }
    if (!n.isBoolean()) {
      throw ApiError.invalid(
          name, name + " must be true or false, got " + abbreviate(n.toString()));
    }
    return n.asBoolean();
  }

  /** The field, or null when absent or JSON null (OpenAI's clients send null for "not set"). */
  static JsonNode present(JsonNode object, String field) {
    JsonNode n = object.get(field);
    return n == null || n.isNull() ? null : n;
  }

  static String kind(JsonNode n) {
    return n.getNodeType().toString().toLowerCase(Locale.ROOT);
  }

  /** A client's value quoted in a message, cut short: errors must stay small whatever was sent. */
  static String abbreviate(String s) {
    return s.length() <= 64 ? s : s.substring(0, 61) + "...";
  }
}
