package io.arrakis.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeMap;

/**
 * The tokens of a tokenizer.json by id: the model's vocabulary plus its added tokens, and which of
 * them are special. (DJL's binding encodes and decodes but does not expose the vocabulary.)
 */
final class Vocabulary {
  /** Ids past this are refused: real vocabularies have a few hundred thousand tokens. */
  static final int MAX_ID = (1 << 24) - 1;

  private final String[] tokens;
  private final Map<String, Integer> ids;
  private final BitSet special;

  private Vocabulary(String[] tokens, Map<String, Integer> ids, BitSet special) {
    this.tokens = tokens;
    this.ids = ids;
    this.special = special;
  }

  /**
   * Reads {@code model.vocab} (an object for BPE/WordPiece/WordLevel, a list for Unigram) and
   * {@code added_tokens}.
   */
  static Vocabulary from(JsonNode root, Path file) {
    Map<String, Integer> ids = new HashMap<>();
    JsonNode vocab = root.path("model").path("vocab");
    if (vocab.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        ids.put(e.getKey(), id(e.getValue(), "model.vocab[\"" + e.getKey() + "\"]", file));
      }
    } else if (vocab.isArray()) {
      for (int i = 0; i < vocab.size(); i++) {
        JsonNode piece = vocab.get(i);
        JsonNode text = piece.isArray() ? piece.path(0) : piece;
        if (!text.isTextual()) {
          throw new TokenizerException(file + ": model.vocab[" + i + "] must be [piece, score]");
        }
        ids.putIfAbsent(text.asText(), i);
      }
    } else {
      throw new TokenizerException(
          file + ": model.vocab is missing (an object or a list of tokens expected)");
    }
    BitSet special = new BitSet();
    JsonNode added = root.path("added_tokens");
    if (!added.isMissingNode() && !added.isNull() && !added.isArray()) {
      throw new TokenizerException(file + ": added_tokens must be a list");
    }
    for (int i = 0; i < added.size(); i++) {
      JsonNode t = added.get(i);
      if (!t.path("content").isTextual()) {
        throw new TokenizerException(file + ": added_tokens[" + i + "].content must be a string");
      }
      int id = id(t.get("id"), "added_tokens[" + i + "].id", file);
      ids.put(t.get("content").asText(), id);
      if (t.path("special").asBoolean(false)) {
        special.set(id);
      }
    }
    int size = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
    if (size == 0) {
      throw new TokenizerException(file + ": the vocabulary is empty");
    }
    String[] tokens = new String[size];
    ids.forEach((token, id) -> tokens[id] = token);
    return new Vocabulary(tokens, Map.copyOf(ids), special);
  }

  private static int id(JsonNode n, String field, Path file) {
    if (n == null
        || !n.canConvertToInt()
        || !n.isIntegralNumber()
        || n.asInt() < 0
        || n.asInt() > MAX_ID) {
      throw new TokenizerException(
          file + ": " + field + " must be a token id in [0, " + MAX_ID + "]");
    }
    return n.asInt();
  }

  /** Ids are 0 .. size() - 1 (the highest id + 1, added tokens included). */
  int size() {
    return tokens.length;
  }

  Optional<String> token(int id) {
    return id >= 0 && id < tokens.length ? Optional.ofNullable(tokens[id]) : Optional.empty();
  }

  OptionalInt id(String token) {
    Integer id = ids.get(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  boolean isSpecial(int id) {
    return id >= 0 && special.get(id);
  }

  /** The special added tokens by id. */
  Map<Integer, String> specialTokens() {
    Map<Integer, String> out = new TreeMap<>();
    special.stream().forEach(id -> out.put(id, tokens[id]));
    return Collections.unmodifiableMap(out);
  }
}
