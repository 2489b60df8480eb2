package io.arrakis.model.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/** Reading a model's JSON files with errors that name the file and the field. */
final class JsonFiles {
  static final ObjectMapper JSON = new ObjectMapper();

  private JsonFiles() {}

  /** The file's text (UTF-8); a missing or unreadable file is a {@link TokenizerException}. */
  static String readText(Path file) {
    try {
      byte[] bytes = Files.readAllBytes(file);
      return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
    } catch (NoSuchFileException e) {
      throw new TokenizerException(file + ": no such file");
    } catch (CharacterCodingException e) {
      throw new TokenizerException(file + ": not UTF-8 text");
    } catch (IOException e) {
      throw new TokenizerException(file + ": cannot be read: " + e.getMessage(), e);
    }
  }

  /** The file as a JSON object. */
  static JsonNode readObject(Path file) {
    return parseObject(readText(file), file);
  }

  /** The file as a JSON object, or empty when it does not exist. */
  static Optional<JsonNode> readOptionalObject(Path file) {
    return Files.exists(file) ? Optional.of(readObject(file)) : Optional.empty();
  }

  static JsonNode parseObject(String text, Path file) {
    JsonNode root;
    try {
      root = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new TokenizerException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw new TokenizerException(file + ": expected a JSON object");
    }
    return root;
  }

  /**
   * A token given either as a string or as an AddedToken object ({@code {"content": "...", ...}}),
   * as tokenizer_config.json writes them; empty when absent or null.
   */
  static Optional<String> tokenText(JsonNode parent, String field, Path file) {
    JsonNode n = parent.get(field);
    if (n == null || n.isNull()) {
      return Optional.empty();
    }
    return Optional.of(tokenValue(n, field, file));
  }

  /** Element {@code index} of a list of tokens (strings or AddedToken objects). */
  static String tokenText(JsonNode list, int index, String field, Path file) {
    return tokenValue(list.get(index), field, file);
  }

  private static String tokenValue(JsonNode n, String field, Path file) {
    if (n.isTextual()) {
      return n.asText();
    }
    if (n.isObject() && n.path("content").isTextual()) {
      return n.get("content").asText();
    }
    throw new TokenizerException(
        file
            + ": "
            + field
            + " must be a string or an object with a string \"content\", not "
            + n.getNodeType());
  }
}
