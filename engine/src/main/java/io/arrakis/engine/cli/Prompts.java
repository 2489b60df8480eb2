package io.arrakis.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** Prompt forms of the commands: token ids now; text and chat once a tokenizer is wired in. */
final class Prompts {
  private Prompts() {}

  /** The ids of a PROMPTS.json entry ({@code {"ids": [...]}}). */
  static int[] ids(JsonNode entry, int index) {
    JsonNode ids = entry.get("ids");
    if (ids == null || !ids.isArray() || ids.isEmpty()) {
      if (entry.has("text") || entry.has("chat")) {
        throw new IllegalArgumentException("prompt " + index + ": text and chat prompts need the tokenizer, which this "
            + "build does not have yet; give {\"ids\": [...]}");
      }
      throw new IllegalArgumentException("prompt " + index + ": expected {\"ids\": [...]} (a non-empty list)");
    }
    int[] out = new int[ids.size()];
    for (int i = 0; i < out.length; i++) {
      if (!ids.get(i).isIntegralNumber()) {
        throw new IllegalArgumentException("prompt " + index + ": ids[" + i + "] is not an integer: " + ids.get(i));
      }
      out[i] = ids.get(i).intValue();
    }
    return out;
  }

  /** "1,2,3" or "1 2 3" as ids. */
  static int[] parseIds(String list) {
    List<Integer> out = new ArrayList<>();
    for (String s : list.trim().split("[,\\s]+")) {
      try {
        out.add(Integer.parseInt(s));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--ids: '" + s + "' is not a token id");
      }
    }
    return out.stream().mapToInt(Integer::intValue).toArray();
  }
}
