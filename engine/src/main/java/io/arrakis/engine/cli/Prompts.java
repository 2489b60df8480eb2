package io.arrakis.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.arrakis.model.tokenizer.ChatMessage;
import io.arrakis.model.tokenizer.ModelTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The prompt forms of the commands: token ids, text, or a chat rendered with the model's template.
 */
final class Prompts {
  private Prompts() {}

  /** The model's tokenizer, or null when the directory has no tokenizer.json. */
  static ModelTokenizer tokenizerOf(Path model) {
    return Files.exists(model.resolve("tokenizer.json")) ? ModelTokenizer.open(model) : null;
  }

  /**
   * The ids of a PROMPTS.json entry: {@code {"ids": [...]}}, {@code {"text": "..."}} or {@code
   * {"chat": [messages]}}.
   */
  static int[] ids(JsonNode entry, int index, ModelTokenizer tokenizer) {
    JsonNode ids = entry.get("ids");
    if (ids != null) {
      if (!ids.isArray() || ids.isEmpty()) {
        throw new IllegalArgumentException("prompt " + index + ": ids must be a non-empty list");
      }
      int[] out = new int[ids.size()];
      for (int i = 0; i < out.length; i++) {
        if (!ids.get(i).isIntegralNumber() || !ids.get(i).canConvertToInt()) {
          throw new IllegalArgumentException(
              "prompt " + index + ": ids[" + i + "] is not an integer: " + ids.get(i));
        }
        out[i] = ids.get(i).intValue();
      }
      return out;
    }
    if (entry.has("text") || entry.has("chat")) {
      if (tokenizer == null) {
        throw new IllegalArgumentException(
            "prompt " + index + ": text and chat prompts need the model's tokenizer.json");
      }
      if (entry.has("text")) {
        if (!entry.get("text").isTextual()) {
          throw new IllegalArgumentException("prompt " + index + ": text must be a string");
        }
        return nonEmpty(tokenizer.encodePrompt(entry.get("text").textValue()), index);
      }
      return nonEmpty(tokenizer.encodeChat(messages(entry.get("chat"), index)), index);
    }
    throw new IllegalArgumentException(
        "prompt "
            + index
            + ": expected {\"ids\": [...]}, {\"text\": \"...\"} or "
            + "{\"chat\": [{\"role\": ..., \"content\": ...}]}");
  }

  private static int[] nonEmpty(int[] ids, int index) {
    if (ids.length == 0) {
      throw new IllegalArgumentException("prompt " + index + " encodes to no tokens");
    }
    return ids;
  }

  private static List<ChatMessage> messages(JsonNode chat, int index) {
    if (chat == null || !chat.isArray() || chat.isEmpty()) {
      throw new IllegalArgumentException(
          "prompt " + index + ": chat must be a non-empty list of messages");
    }
    List<ChatMessage> out = new ArrayList<>();
    for (JsonNode m : chat) {
      if (!m.isObject() || !m.path("role").isTextual() || !m.path("content").isTextual()) {
        throw new IllegalArgumentException(
            "prompt " + index + ": each chat message needs string role and content");
      }
      out.add(new ChatMessage(m.get("role").textValue(), m.get("content").textValue()));
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
