package io.arrakis.model.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The text side of a model directory in one place: its tokenizer, chat template and generation
 * defaults, opened from the checkpoint's {@code tokenizer.json} (required), {@code
 * tokenizer_config.json}, {@code chat_template.jinja} and {@code generation_config.json} (each
 * optional). Thread-safe; close it to free the native tokenizer.
 */
public final class ModelTokenizer implements AutoCloseable {
  static final String TOKENIZER_FILE = "tokenizer.json";

  private final Path dir;
  private final Tokenizer tokenizer;
  private final TokenizerConfig config;
  private final Optional<ChatTemplate> chatTemplate;
  private final GenerationDefaults defaults;

  private ModelTokenizer(
      Path dir,
      Tokenizer tokenizer,
      TokenizerConfig config,
      Optional<ChatTemplate> chatTemplate,
      GenerationDefaults defaults) {
    this.dir = dir;
    this.tokenizer = tokenizer;
    this.config = config;
    this.chatTemplate = chatTemplate;
    this.defaults = defaults;
  }

  /** Opens a model directory with the default chat template limits. */
  public static ModelTokenizer open(Path dir) {
    return open(dir, ChatTemplateLimits.DEFAULT);
  }

  /**
   * Opens a model directory; a missing tokenizer.json, or any file that is not what it should be,
   * is a {@link TokenizerException} naming the file (and the field).
   */
  public static ModelTokenizer open(Path dir, ChatTemplateLimits limits) {
    if (!Files.isDirectory(dir)) {
      throw new TokenizerException(dir + ": not a model directory");
    }
    Path tokenizerFile = dir.resolve(TOKENIZER_FILE);
    if (!Files.exists(tokenizerFile)) {
      throw new TokenizerException("no " + TOKENIZER_FILE + " in model directory " + dir);
    }
    TokenizerConfig config = TokenizerConfig.load(dir);
    Tokenizer tokenizer = Tokenizer.load(tokenizerFile);
    try {
      Optional<ChatTemplate> template =
          config
              .chatTemplate()
              .map(
                  source ->
                      ChatTemplate.compile(source, config.chatTemplateOrigin(), config, limits));
      GenerationDefaults defaults = GenerationDefaults.load(dir, config, tokenizer);
      return new ModelTokenizer(dir, tokenizer, config, template, defaults);
    } catch (RuntimeException e) {
      tokenizer.close();
      throw e;
    }
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  public TokenizerConfig config() {
    return config;
  }

  public GenerationDefaults generationDefaults() {
    return defaults;
  }

  public Optional<ChatTemplate> chatTemplate() {
    return chatTemplate;
  }

  /** A text prompt's ids: no special tokens added, never truncated. */
  public int[] encodePrompt(String text) {
    return tokenizer.encode(text);
  }

  /**
   * The chat rendered with the model's template and the generation prompt (the assistant's turn
   * opened).
   */
  public String renderChat(List<ChatMessage> messages) {
    return renderChat(messages, true, Map.of());
  }

  /**
   * The chat rendered with the model's template; a model without one, a template that refuses the
   * chat, and a chat past the limits are {@link ChatTemplateException}s saying which.
   */
  public String renderChat(
      List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
    ChatTemplate template =
        chatTemplate.orElseThrow(
            () ->
                new ChatTemplateException(
                    ChatTemplateException.Reason.NO_TEMPLATE,
                    "the model in "
                        + dir
                        + " has no chat template (no chat_template in "
                        + TokenizerConfig.FILE
                        + ", no "
                        + TokenizerConfig.TEMPLATE_FILE
                        + "): send a text prompt instead"));
    return template.render(messages, addGenerationPrompt, variables);
  }

  /**
   * A chat's prompt ids: rendered with the generation prompt, then encoded without added special
   * tokens.
   */
  public int[] encodeChat(List<ChatMessage> messages) {
    return tokenizer.encode(renderChat(messages));
  }

  /** A detokenizer for one sequence's generated ids. */
  public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
    return new IncrementalDetokenizer(tokenizer, skipSpecialTokens);
  }

  /** The model directory. */
  public Path dir() {
    return dir;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
