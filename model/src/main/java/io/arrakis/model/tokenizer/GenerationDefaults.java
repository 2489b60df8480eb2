package io.arrakis.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.Set;

/**
 * What a model's generation_config.json and tokenizer_config.json say about generating: the tokens
 * that end a sequence and the sampling defaults its authors chose. Absent fields stay empty: the
 * request or the server's own defaults decide.
 *
 * @param eosTokenIds ids that end generation: generation_config's {@code eos_token_id} (an int or a
 *     list) followed by tokenizer_config's {@code eos_token}, without repeats
 * @param bosTokenId generation_config's {@code bos_token_id}, else tokenizer_config's {@code
 *     bos_token}
 * @param padTokenId generation_config's {@code pad_token_id}, else tokenizer_config's {@code
 *     pad_token}
 * @param doSample {@code do_sample} (false: greedy, whatever the temperature)
 * @param temperature {@code temperature}
 * @param topP {@code top_p}
 * @param topK {@code top_k}
 * @param maxNewTokens {@code max_new_tokens}
 */
public record GenerationDefaults(
    List<Integer> eosTokenIds,
    OptionalInt bosTokenId,
    OptionalInt padTokenId,
    Optional<Boolean> doSample,
    OptionalDouble temperature,
    OptionalDouble topP,
    OptionalInt topK,
    OptionalInt maxNewTokens) {

  static final String FILE = "generation_config.json";

  public GenerationDefaults {
    eosTokenIds = List.copyOf(eosTokenIds);
  }

  /**
   * Reads {@code dir/generation_config.json} (optional) and the special tokens of {@code config},
   * resolving token strings with {@code tokenizer}; ids outside the vocabulary and tokens it lacks
   * are refused naming the file and field.
   */
  public static GenerationDefaults load(Path dir, TokenizerConfig config, Tokenizer tokenizer) {
    Path file = dir.resolve(FILE);
    JsonNode g = JsonFiles.readOptionalObject(file).orElse(JsonFiles.JSON.createObjectNode());
    Set<Integer> eos = new LinkedHashSet<>(ids(g, "eos_token_id", file, tokenizer));
    Path tokenizerConfig = dir.resolve(TokenizerConfig.FILE);
    tokenId(config, "eos_token", tokenizerConfig, tokenizer).ifPresent(eos::add);
    return new GenerationDefaults(
        new ArrayList<>(eos),
        firstOf(
            ids(g, "bos_token_id", file, tokenizer),
            tokenId(config, "bos_token", tokenizerConfig, tokenizer)),
        firstOf(
            ids(g, "pad_token_id", file, tokenizer),
            tokenId(config, "pad_token", tokenizerConfig, tokenizer)),
        optionalBoolean(g, "do_sample", file),
        optionalDouble(g, "temperature", file),
        optionalDouble(g, "top_p", file),
        optionalInt(g, "top_k", file),
        optionalInt(g, "max_new_tokens", file));
  }

  private static OptionalInt firstOf(List<Integer> ids, OptionalInt fallback) {
    return ids.isEmpty() ? fallback : OptionalInt.of(ids.get(0));
  }

  /** An id or a list of ids (as eos_token_id may be); null or absent: none. */
  private static List<Integer> ids(JsonNode g, String field, Path file, Tokenizer tokenizer) {
    JsonNode n = g.get(field);
    List<Integer> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (n.isArray()) {
      for (int i = 0; i < n.size(); i++) {
        out.add(id(n.get(i), field + "[" + i + "]", file, tokenizer));
      }
    } else {
      out.add(id(n, field, file, tokenizer));
    }
    return out;
  }

  private static int id(JsonNode n, String field, Path file, Tokenizer tokenizer) {
    if (!n.isIntegralNumber()
        || !n.canConvertToInt()
        || n.asInt() < 0
        || n.asInt() >= tokenizer.vocabSize()) {
      throw new TokenizerException(
          file
              + ": "
              + field
              + " must be a token id in [0, "
              + tokenizer.vocabSize()
              + "), not "
              + n);
    }
    return n.asInt();
  }

  private static OptionalInt tokenId(
      TokenizerConfig config, String name, Path file, Tokenizer tokenizer) {
    String token = config.specialTokens().get(name);
    if (token == null) {
      return OptionalInt.empty();
    }
    OptionalInt id = tokenizer.id(token);
    if (id.isEmpty()) {
      throw new TokenizerException(
          file + ": " + name + " '" + token + "' is not a token of " + tokenizer.file());
    }
    return id;
  }

  private static Optional<Boolean> optionalBoolean(JsonNode g, String field, Path file) {
    JsonNode n = g.get(field);
    if (n == null || n.isNull()) {
      return Optional.empty();
    }
    if (!n.isBoolean()) {
      throw new TokenizerException(file + ": " + field + " must be true or false, not " + n);
    }
    return Optional.of(n.asBoolean());
  }

  private static OptionalDouble optionalDouble(JsonNode g, String field, Path file) {
    JsonNode n = g.get(field);
    if (n == null || n.isNull()) {
      return OptionalDouble.empty();
    }
    if (!n.isNumber() || !Double.isFinite(n.asDouble()) || n.asDouble() < 0) {
      throw new TokenizerException(file + ": " + field + " must be a number >= 0, not " + n);
    }
    return OptionalDouble.of(n.asDouble());
  }

  private static OptionalInt optionalInt(JsonNode g, String field, Path file) {
    JsonNode n = g.get(field);
    if (n == null || n.isNull()) {
      return OptionalInt.empty();
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0) {
      throw new TokenizerException(file + ": " + field + " must be a whole number >= 0, not " + n);
    }
    return OptionalInt.of(n.asInt());
  }
}
