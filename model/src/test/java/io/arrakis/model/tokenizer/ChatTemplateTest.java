package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Year;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Chat templates rendered by Jinjava as transformers renders them with jinja2: the reference
 * checkpoints' template, and templates using the Python idioms of real models' templates, compared
 * with jinja2's own renderings (src/test/resources/chat_templates/cases.json, made by
 * make_cases.py).
 */
class ChatTemplateTest {
  private static final TokenizerConfig SPECIAL =
      new TokenizerConfig(
          Optional.empty(),
          Path.of("test"),
          Map.of("bos_token", "<s>", "eos_token", "</s>"),
          List.of());

  static Iterable<String> families() {
    return ReferenceModels.FAMILIES;
  }

  @ParameterizedTest
  @MethodSource("families")
  void rendersTheReferenceChatExactlyAsTransformers(String family) {
    TokenizerConfig config = TokenizerConfig.load(ReferenceModels.dir(family));
    ChatTemplate template =
        ChatTemplate.compile(
            config.chatTemplate().orElseThrow(),
            config.chatTemplateOrigin(),
            config,
            ChatTemplateLimits.DEFAULT);
    JsonNode chat =
        ReferenceModels.prompts(family).stream()
            .filter(p -> p.has("chat"))
            .findFirst()
            .orElseThrow();

    assertThat(template.render(messages(chat.get("chat")), true))
        .isEqualTo(chat.get("text").asText());
  }

  static Stream<Arguments> jinja2Cases() throws IOException {
    JsonNode cases =
        new ObjectMapper()
            .readTree(Files.readString(templates().resolve("cases.json")))
            .get("cases");
    return IntStream.range(0, cases.size())
        .mapToObj(
            i -> Arguments.of(cases.get(i).get("template").asText() + " #" + i, cases.get(i)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("jinja2Cases")
  void rendersCharacterForCharacterWhatJinja2Renders(String name, JsonNode c) throws IOException {
    Path file = templates().resolve(c.get("template").asText());
    ChatTemplate template =
        ChatTemplate.compile(Files.readString(file), file, SPECIAL, ChatTemplateLimits.DEFAULT);
    Map<String, Object> variables = new ObjectMapper().convertValue(c.get("variables"), Map.class);
    List<ChatMessage> chat = messages(c.get("chat"));
    boolean generationPrompt = c.get("add_generation_prompt").asBoolean();

    if (c.has("raises")) {
      assertThatThrownBy(() -> template.render(chat, generationPrompt, variables))
          .isInstanceOfSatisfying(
              ChatTemplateException.class,
              e -> assertThat(e.reason()).isEqualTo(ChatTemplateException.Reason.RAISED))
          .hasMessageContaining(file.toString())
          .hasMessageContaining(c.get("raises").asText());
    } else {
      assertThat(template.render(chat, generationPrompt, variables))
          .isEqualTo(c.get("text").asText());
    }
  }

  @Test
  void messageTextIsNeverInterpretedAsTemplateCode() {
    ChatTemplate template = compile("{% for m in messages %}{{ m.content }}{% endfor %}");

    assertThat(template.render(List.of(new ChatMessage("user", "{{ 7*7 }}{% raise %}")), false))
        .isEqualTo("{{ 7*7 }}{% raise %}");
  }

  @Test
  void aTemplateThatDoesNotParseIsRefusedAtLoadNamingTheFileAndLine() {
    assertThatThrownBy(
            () ->
                ChatTemplate.compile(
                    "line one\n{% if x %}",
                    Path.of("/m/tokenizer_config.json"), SPECIAL, ChatTemplateLimits.DEFAULT))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("/m/tokenizer_config.json")
        .hasMessageContaining("does not parse")
        .hasMessageContaining("endif");
  }

  @Test
  void aTemplateCannotReadOtherFiles() {
    for (String source :
        List.of(
            "{% include 'tokenizer.json' %}",
            "{% import 'x.jinja' as x %}", "{% extends 'base.jinja' %}")) {
      assertThatThrownBy(() -> compile(source).render(List.of(new ChatMessage("user", "hi")), true))
          .as(source)
          .isInstanceOf(TokenizerException.class);
    }
  }

  @Test
  void whatTheTemplateNeedsAndJinjavaLacksIsAnErrorNamingTheTemplate() {
    ChatTemplate template = compile("{{ messages[0].content.no_such_method() }}");

    assertThatThrownBy(() -> template.render(List.of(new ChatMessage("user", "hi")), true))
        .isInstanceOfSatisfying(
            ChatTemplateException.class,
            e -> assertThat(e.reason()).isEqualTo(ChatTemplateException.Reason.TEMPLATE_ERROR))
        .hasMessageContaining("test.jinja");
  }

  @Test
  void aFilteredForLoopWhichJinjavaWouldIgnoreIsRefusedAtLoad() {
    assertThatThrownBy(
            () ->
                compile("{% for m in messages if m.role != 'system' %}{{ m.content }}{% endfor %}"))
        .isInstanceOf(TokenizerException.class)
        .hasMessageContaining("test.jinja")
        .hasMessageContaining("line 1")
        .hasMessageContaining("filters a for loop");
    assertThat(
            compile("{% for m in messages %}{{ 'if' if m.content else 'in' }}{% endfor %}")
                .render(List.of(m("x")), false))
        .isEqualTo("if");
  }

  @Test
  void theFinalNewlineOfATemplateIsDroppedAsJinja2Does() {
    assertThat(compile("{{ messages|length }}\n").render(List.of(), false)).isEqualTo("0");
    assertThat(compile("{{ messages|length }}\n\n").render(List.of(), false)).isEqualTo("0\n");
  }

  @Test
  void strftimeNowFormatsTheLocalTimeAsPythonDoes() {
    assertThat(compile("{{ strftime_now('%Y') }}").render(List.of(), false))
        .isEqualTo(Year.now(ZoneId.systemDefault()).toString());
  }

  @Test
  void tooManyMessagesAreRefusedBeforeRendering() {
    ChatTemplate template =
        ChatTemplate.compile(
            "{{ messages|length }}",
            Path.of("test.jinja"),
            SPECIAL,
            new ChatTemplateLimits(3, 1000, 100, 100, 4));
    List<ChatMessage> four = List.of(m("a"), m("b"), m("c"), m("d"));

    assertThatThrownBy(() -> template.render(four, true))
        .isInstanceOfSatisfying(
            ChatTemplateException.class,
            e -> assertThat(e.reason()).isEqualTo(ChatTemplateException.Reason.LIMIT))
        .hasMessageContaining("4 messages")
        .hasMessageContaining("maxMessages");
  }

  @Test
  void aPromptPastTheOutputLimitIsRefused() {
    ChatTemplate template =
        ChatTemplate.compile(
            "{% for m in messages %}{{ m.content }}{% endfor %}",
            Path.of("test.jinja"), SPECIAL, new ChatTemplateLimits(10, 1000, 100, 100, 4));

    assertThat(template.render(List.of(m("x".repeat(900))), false)).hasSize(900);
    assertThatThrownBy(
            () -> template.render(List.of(m("x".repeat(600)), m("y".repeat(600))), false))
        .isInstanceOfSatisfying(
            ChatTemplateException.class,
            e -> assertThat(e.reason()).isEqualTo(ChatTemplateException.Reason.LIMIT));
  }

  @Test
  void aTemplateAmplifyingTheChatStopsAtTheLimits() {
    ChatTemplateLimits limits = new ChatTemplateLimits(10, 5_000, 100, 100, 4);
    ChatTemplate loops =
        ChatTemplate.compile(
            "{% for i in range(1000000) %}{% for j in range(1000000) %}x{% endfor %}{% endfor %}",
            Path.of("test.jinja"), SPECIAL, limits);
    ChatTemplate strings =
        ChatTemplate.compile(
            "{% set ns = namespace(s=messages[0].content) %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
            Path.of("test.jinja"), SPECIAL, limits);

    for (ChatTemplate t : List.of(loops, strings)) {
      assertThatThrownBy(() -> t.render(List.of(m("ab")), false))
          .isInstanceOfSatisfying(
              ChatTemplateException.class,
              e -> assertThat(e.reason()).isEqualTo(ChatTemplateException.Reason.LIMIT));
    }
  }

  private static ChatMessage m(String content) {
    return new ChatMessage("user", content);
  }

  private static ChatTemplate compile(String source) {
    return ChatTemplate.compile(source, Path.of("test.jinja"), SPECIAL, ChatTemplateLimits.DEFAULT);
  }

  static List<ChatMessage> messages(JsonNode chat) {
    List<ChatMessage> out = new ArrayList<>();
    chat.forEach(m -> out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText())));
    return out;
  }

  private static Path templates() {
    try {
      return Path.of(ChatTemplateTest.class.getResource("/chat_templates/cases.json").toURI())
          .getParent();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
