package io.arrakis.model.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code tojson} as transformers defines it for chat templates: Python's {@code json.dumps(x,
 * ensure_ascii=False, indent=indent, sort_keys=sort_keys)} (", " and ": " between items, non-ASCII
 * kept, no HTML escaping), where Jinjava's own filter writes compact JSON. Tool definitions and
 * tool call arguments reach the prompt through it, so the bytes must be the ones the model was
 * trained on.
 */
final class PyJsonFilter implements Filter {

  @Override
  public String getName() {
    return "tojson";
  }

  @Override
  public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
    return filter(var, interpreter, args, Map.of());
  }

  @Override
  public Object filter(
      Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
    Object indent =
        kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
    boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
    StringBuilder out = new StringBuilder();
    write(out, var, indent == null ? -1 : Integer.parseInt(String.valueOf(indent)), 0, sortKeys);
    return out.toString();
  }

  /** Writes {@code value} as Python's json.dumps would, with {@code indent} < 0 for None. */
  static void write(StringBuilder out, Object value, int indent, int level, boolean sortKeys) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof Boolean b) {
      out.append(b ? "true" : "false");
    } else if (value instanceof Double || value instanceof Float) {
      out.append(pythonFloat(((Number) value).doubleValue()));
    } else if (value instanceof Number n) {
      out.append(n instanceof BigDecimal d ? d.toPlainString() : n.toString());
    } else if (value instanceof Map<?, ?> map) {
      Map<String, Object> entries = sortKeys ? new TreeMap<>() : new LinkedHashMap<>();
      map.forEach((k, v) -> entries.put(k instanceof String s ? s : keyString(k), v));
      writeContainer(out, '{', '}', new ArrayList<>(entries.entrySet()), indent, level, sortKeys);
    } else if (value instanceof Iterable<?> items) {
      List<Object> list = new ArrayList<>();
      items.forEach(list::add);
      writeContainer(out, '[', ']', list, indent, level, sortKeys);
    } else if (value instanceof Object[] array) {
      writeContainer(out, '[', ']', List.of(array), indent, level, sortKeys);
    } else {
      string(out, value.toString());
    }
  }

  private static void writeContainer(
      StringBuilder out,
      char open,
      char close,
      List<?> items,
      int indent,
      int level,
      boolean sortKeys) {
    out.append(open);
    if (items.isEmpty()) {
      out.append(close);
      return;
    }
    for (int i = 0; i < items.size(); i++) {
      if (i > 0) {
        out.append(indent < 0 ? ", " : ",");
      }
      newline(out, indent, level + 1);
      Object item = items.get(i);
      if (item instanceof Map.Entry<?, ?> e) {
        string(out, (String) e.getKey());
        out.append(": ");
        write(out, e.getValue(), indent, level + 1, sortKeys);
      } else {
        write(out, item, indent, level + 1, sortKeys);
      }
    }
    newline(out, indent, level);
    out.append(close);
  }

  private static void newline(StringBuilder out, int indent, int level) {
    if (indent >= 0) {
      out.append('\n').append(" ".repeat(indent * level));
    }
  }

  /** Python turns True/False/None/number keys into JSON strings. */
  private static String keyString(Object k) {
    if (k == null) {
      return "null";
    }
    if (k instanceof Boolean b) {
      return b ? "true" : "false";
    }
    return k instanceof Double || k instanceof Float
        ? pythonFloat(((Number) k).doubleValue())
        : k.toString();
  }

  private static void string(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }

  /** Python's repr of a float: the shortest digits, fixed notation for exponents -4 .. 15. */
  static String pythonFloat(double d) {
    if (Double.isNaN(d)) {
      return "NaN";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "Infinity" : "-Infinity";
    }
    if (d == 0) {
      return 1 / d < 0 ? "-0.0" : "0.0";
    }
    BigDecimal v = new BigDecimal(Double.toString(d)).stripTrailingZeros();
    String digits = v.unscaledValue().abs().toString();
    int exponent = digits.length() - 1 - v.scale();
    String sign = d < 0 ? "-" : "";
    if (exponent >= -4 && exponent < 16) {
      String plain = v.abs().toPlainString();
      return sign + (plain.contains(".") ? plain : plain + ".0");
    }
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return sign
        + mantissa
        + "e"
        + (exponent < 0 ? "-" : "+")
        + String.format("%02d", Math.abs(exponent));
  }
}
