package io.arrakis.model.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.CollectionTooBigException;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.OutputTooBigException;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import jinjava.javax.el.CompositeELResolver;

/**
 * A model's chat template rendered by a Jinja engine (Jinjava) set up the way transformers sets up
 * jinja2 for {@code apply_chat_template}: trim_blocks and lstrip_blocks, {@code raise_exception}
 * and {@code strftime_now}, {@code tojson} as Python's json.dumps, the variables {@code messages},
 * {@code add_generation_prompt}, {@code tools} and {@code documents} (None), and the named special
 * tokens ({@code bos_token}, {@code eos_token}, …). Closer to jinja2 than Jinjava's defaults:
 * Python's str methods ({@link PyStringMethods}), <code>{{-</code> trimming, dict iteration over
 * keys, Python operator precedence, the template's final newline dropped, and the Python syntax of
 * {@link PythonSyntax}.
 *
 * <p>Sandboxed and bounded: message text is never interpreted as template code, templates cannot
 * include or import other files, and each render is held to {@link ChatTemplateLimits}.
 * Thread-safe.
 */
final class ChatTemplate {
  private static final Map<Context.Library, Set<String>> DISABLED =
      Map.of(Context.Library.TAG, Set.of("include", "import", "from", "extends"));

  private final Jinjava jinjava;
  private final String source;
  private final Path origin;
  private final Map<String, Object> constants;
  private final ChatTemplateLimits limits;

  private ChatTemplate(
      Jinjava jinjava,
      String source,
      Path origin,
      Map<String, Object> constants,
      ChatTemplateLimits limits) {
    this.jinjava = jinjava;
    this.source = source;
    this.origin = origin;
    this.constants = constants;
    this.limits = limits;
  }

  /**
   * Compiles {@code source}; a template that does not parse is a {@link TokenizerException} naming
   * {@code origin} and the line.
   *
   * @param config the named special tokens become template variables
   */
  public static ChatTemplate compile(
      String source, Path origin, TokenizerConfig config, ChatTemplateLimits limits) {
    Jinjava jinjava = new Jinjava(config(limits));
    jinjava.setResourceLocator(
        (name, encoding, interpreter) -> {
          throw new IOException("chat templates cannot load other files (" + name + ")");
        });
    jinjava
        .getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition(
                "", "raise_exception", TemplateFunctions.class, "raiseException", Object.class));
    jinjava
        .getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition(
                "", "strftime_now", TemplateFunctions.class, "strftimeNow", String.class));
    jinjava.getGlobalContext().registerFilter(new PyJsonFilter());
    String jinja = PythonSyntax.rewrite(withoutTrailingNewline(source), origin);
    checkSyntax(jinjava, jinja, origin);
    Map<String, Object> constants = new HashMap<>(config.specialTokens());
    constants.put("additional_special_tokens", config.additionalSpecialTokens());
    return new ChatTemplate(jinjava, jinja, origin, Map.copyOf(constants), limits);
  }

  /**
   * jinja2 drops one newline at the end of a template (keep_trailing_newline=False); Jinjava keeps
   * it.
   */
  static String withoutTrailingNewline(String source) {
    if (source.endsWith("\r\n")) {
      return source.substring(0, source.length() - 2);
    }
    return source.endsWith("\n") ? source.substring(0, source.length() - 1) : source;
  }

  private static JinjavaConfig config(ChatTemplateLimits limits) {
    LegacyOverrides pythonLike =
        LegacyOverrides.newBuilder()
            .withUseTrimmingForNotesAndExpressions(true)
            .withUseNaturalOperatorPrecedence(true)
            .withEvaluateMapKeys(true)
            .withIterateOverMapKeys(true)
            .withUsePyishObjectMapper(true)
            .withKeepNullableLoopValues(true)
            .withParseWhitespaceControlStrictly(true)
            .withAllowAdjacentTextNodes(true)
            .build();
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new PyStringMethods());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
    return JinjavaConfig.newBuilder()
        .withTrimBlocks(true)
        .withLstripBlocks(true)
        .withNestedInterpretationEnabled(false)
        .withFailOnUnknownTokens(false)
        .withLegacyOverrides(pythonLike)
        .withElResolver(resolver)
        .withDisabled(DISABLED)
        .withMaxOutputSize(limits.maxOutputChars())
        .withMaxStringLength(limits.maxOutputChars())
        .withMaxListSize(limits.maxCollectionSize())
        .withMaxMapSize(limits.maxCollectionSize())
        .withRangeLimit(limits.maxRange())
        .withMaxRenderDepth(limits.maxDepth())
        .withEnableRecursiveMacroCalls(true)
        .withMaxMacroRecursionDepth(limits.maxDepth())
        .build();
  }

  private static void checkSyntax(Jinjava jinjava, String source, Path origin) {
    JinjavaInterpreter interpreter = jinjava.newInterpreter();
    JinjavaInterpreter.pushCurrent(interpreter);
    try {
      interpreter.parse(source);
    } finally {
      JinjavaInterpreter.popCurrent();
    }
    for (TemplateError e : interpreter.getErrors()) {
      if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
        throw new TokenizerException(
            origin
                + ": the chat template does not parse: line "
                + e.getLineno()
                + ": "
                + e.getMessage());
      }
    }
  }

  /** Renders the chat, ending with the assistant's turn opened when {@code addGenerationPrompt}. */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    return render(messages, addGenerationPrompt, Map.of());
  }

  /**
   * Renders the chat with extra template variables (e.g. {@code enable_thinking}), as keyword
   * arguments of transformers' {@code apply_chat_template}; they cannot replace the messages.
   */
  public String render(
      List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, ?> variables) {
    if (messages.size() > limits.maxMessages()) {
      throw new ChatTemplateException(
          ChatTemplateException.Reason.LIMIT,
          "a chat of "
              + messages.size()
              + " messages is past the limit of "
              + limits.maxMessages()
              + " (maxMessages)");
    }
    Map<String, Object> bindings = new HashMap<>(constants);
    bindings.putAll(variables);
    List<Map<String, Object>> list = new ArrayList<>(messages.size());
    for (ChatMessage m : messages) {
      Map<String, Object> message = new LinkedHashMap<>();
      message.put("role", m.role());
      message.put("content", m.content());
      list.add(message);
    }
    bindings.put("messages", list);
    bindings.put("add_generation_prompt", addGenerationPrompt);
    bindings.put("tools", null);
    bindings.put("documents", null);
    RenderResult result = jinjava.renderForResult(source, bindings);
    Optional<TemplateError> fatal =
        result.getErrors().stream()
            .filter(e -> e.getSeverity() == TemplateError.ErrorType.FATAL)
            .findFirst();
    if (fatal.isPresent()) {
      throw failure(fatal.get());
    }
    return result.getOutput();
  }

  private ChatTemplateException failure(TemplateError e) {
    boolean overLimit =
        switch (e.getReason()) {
          case OUTPUT_TOO_BIG, OVER_LIMIT, COLLECTION_TOO_BIG -> true;
          default -> false;
        };
    for (Throwable t = e.getException(); t != null; t = t.getCause()) {
      if (t instanceof TemplateFunctions.Raised raised) {
        return new ChatTemplateException(
            ChatTemplateException.Reason.RAISED,
            "the chat template of " + origin + " refused the chat: " + raised.getMessage());
      }
      overLimit |= t instanceof OutputTooBigException || t instanceof CollectionTooBigException;
    }
    if (overLimit) {
      return new ChatTemplateException(
          ChatTemplateException.Reason.LIMIT,
          "rendering the chat template of "
              + origin
              + " went past a limit ("
              + limits
              + "): "
              + e.getMessage());
    }
    return new ChatTemplateException(
        ChatTemplateException.Reason.TEMPLATE_ERROR,
        "the chat template of "
            + origin
            + " failed at line "
            + e.getLineno()
            + ": "
            + e.getMessage());
  }

  /** The file the template comes from. */
  public Path origin() {
    return origin;
  }
}
