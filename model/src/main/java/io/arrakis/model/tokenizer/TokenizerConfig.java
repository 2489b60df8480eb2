package io.arrakis.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a model's tokenizer_config.json (and chat_template.jinja, which transformers prefers when
 * present) says about prompts: the chat template and the named special tokens.
 *
 * @param chatTemplate the Jinja source of the default chat template, if the model has one
 * @param chatTemplateOrigin the file the template comes from (for error messages)
 * @param specialTokens the named special tokens that are set ({@code bos_token}, {@code eos_token},
 *     {@code unk_token}, {@code sep_token}, {@code pad_token}, {@code cls_token}, {@code
 *     mask_token}), by name, as transformers' {@code special_tokens_map}
 * @param additionalSpecialTokens {@code additional_special_tokens}
 */
record TokenizerConfig(
    Optional<String> chatTemplate,
    Path chatTemplateOrigin,
    Map<String, String> specialTokens,
    List<String> additionalSpecialTokens) {

  static final String FILE = "tokenizer_config.json";
  static final String TEMPLATE_FILE = "chat_template.jinja";
  private static final List<String> NAMED =
      List.of(
          "bos_token",
          "eos_token",
          "unk_token",
          "sep_token",
          "pad_token",
          "cls_token",
          "mask_token");

  public TokenizerConfig {
    specialTokens = Collections.unmodifiableMap(new LinkedHashMap<>(specialTokens));
    additionalSpecialTokens = List.copyOf(additionalSpecialTokens);
  }

  /**
   * Reads {@code dir/tokenizer_config.json} and {@code dir/chat_template.jinja}; either may be
   * absent (then there is no chat template, and no named special tokens without the first).
   */
  public static TokenizerConfig load(Path dir) {
    Path file = dir.resolve(FILE);
    JsonNode root = JsonFiles.readOptionalObject(file).orElse(JsonFiles.JSON.createObjectNode());
    Map<String, String> special = new LinkedHashMap<>();
    for (String name : NAMED) {
      JsonFiles.tokenText(root, name, file).ifPresent(t -> special.put(name, t));
    }
    List<String> additional = new ArrayList<>();
    JsonNode list = root.path("additional_special_tokens");
    if (list.isArray()) {
      for (int i = 0; i < list.size(); i++) {
        String field = "additional_special_tokens[" + i + "]";
        additional.add(JsonFiles.tokenText(list, i, field, file));
      }
    } else if (!list.isMissingNode() && !list.isNull()) {
      throw new TokenizerException(file + ": additional_special_tokens must be a list");
    }
    Path templateFile = dir.resolve(TEMPLATE_FILE);
    if (Files.exists(templateFile)) {
      return new TokenizerConfig(
          Optional.of(JsonFiles.readText(templateFile)), templateFile, special, additional);
    }
    return new TokenizerConfig(chatTemplate(root, file), file, special, additional);
  }

  /**
   * {@code chat_template}: a string, or a list of {@code {"name", "template"}} whose "default" is
   * used.
   */
  private static Optional<String> chatTemplate(JsonNode root, Path file) {
    JsonNode t = root.get("chat_template");
    if (t == null || t.isNull()) {
      return Optional.empty();
    }
    if (t.isTextual()) {
      return Optional.of(t.asText());
    }
    if (t.isArray()) {
      for (JsonNode named : t) {
        if ("default".equals(named.path("name").asText(null))
            && named.path("template").isTextual()) {
          return Optional.of(named.get("template").asText());
        }
      }
      throw new TokenizerException(
          file + ": chat_template is a list without a \"default\" template");
    }
    throw new TokenizerException(
        file + ": chat_template must be a string or a list of named templates");
  }
}
