package io.arrakis.router.http;

import static io.arrakis.router.http.JsonFields.abbreviate;
import static io.arrakis.router.http.JsonFields.bool;
import static io.arrakis.router.http.JsonFields.integer;
import static io.arrakis.router.http.JsonFields.kind;
import static io.arrakis.router.http.JsonFields.number;
import static io.arrakis.router.http.JsonFields.present;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.model.tokenizer.ChatMessage;
import io.arrakis.router.serve.GenerationRequest;
import io.arrakis.router.serve.ServedModel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Turns the JSON body of a completion or chat completion into an {@link OpenAiRequest}, checking
 * every field it knows (a wrong type or value is a 400 naming the field) and refusing the OpenAI
 * features it does not serve (n > 1, a chat's echo, suffix, tools) rather than ignoring them.
 * Fields it does not know are ignored, as OpenAI-compatible servers do. The prompt's tokens (its
 * vocabulary, its length against the context) are checked by the generation service.
 */
final class RequestParser {
  /** Bodies nest a few levels; a deeper one is hostile. */
  private static final int MAX_NESTING = 64;

  private static final ObjectMapper JSON =
      new ObjectMapper(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING).build())
                  .build())
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final ServedModel model;
  private final int maxStopStrings;

  /**
   * @param maxStopStrings stop strings one request may give (the serving limit)
   */
  public RequestParser(ServedModel model, int maxStopStrings) {
    this.model = model;
    this.maxStopStrings = maxStopStrings;
  }

  public OpenAiRequest parse(byte[] body, boolean chat) throws ApiError {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (JacksonException e) {
      throw ApiError.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw ApiError.invalid(null, "the body could not be read: " + e.getMessage());
    }
    if (root == null || !root.isObject()) {
      throw ApiError.invalid(null, "the body must be a JSON object");
    }
    checkModel(root.get("model"));
    GenerationRequest.Prompt prompt =
        chat ? messages(root.get("messages")) : prompt(root.get("prompt"));
    refuseUnsupported(root, chat);
    long maxTokens = maxTokens(root, chat);
    float temperature = (float) number(root, "temperature", 1.0, 0, 2);
    float topP = (float) number(root, "top_p", 1.0, 0, 1);
    long topK = integer(root, "top_k", 0);
    if (topK < -1) {
      throw ApiError.invalid("top_k", "top_k must be >= 0 (0 or -1: all tokens), got " + topK);
    }
    JsonNode seed = present(root, "seed");
    if (seed != null && !seed.canConvertToLong()) {
      throw ApiError.invalid("seed", "seed must be an integer");
    }
    boolean stream = bool(root, "stream");
    boolean includeUsage = false;
    JsonNode options = present(root, "stream_options");
    if (options != null) {
      if (!options.isObject()) {
        throw ApiError.invalid("stream_options", "stream_options must be an object");
      }
      if (!stream) {
        throw ApiError.invalid(
            "stream_options", "stream_options is only allowed with stream: true");
      }
      includeUsage = bool(options, "include_usage", "stream_options.include_usage");
    }
    boolean echo = !chat && echo(root, stream);
    int logprobs = chat ? chatLogprobs(root) : completionLogprobs(root);
    GenerationRequest.Sampling sampling =
        new GenerationRequest.Sampling(
            maxTokens,
            temperature,
            topP,
            Math.max(0, topK),
            seed == null ? OptionalLong.empty() : OptionalLong.of(seed.asLong()),
            SamplingFields.stops(root, maxStopStrings),
            logprobs,
            echo ? logprobs : -1,
            SamplingFields.adjustments(root));
    return new OpenAiRequest(
        chat,
        prompt,
        sampling,
        stream,
        includeUsage,
        bool(root, "return_token_ids"),
        echo,
        cacheSalt(root));
  }

  /** vLLM's {@code cache_salt}: a non-empty string. */
  private static String cacheSalt(JsonNode root) throws ApiError {
    JsonNode n = present(root, "cache_salt");
    if (n == null) {
      return null;
    }
    int max = GenerationRequest.MAX_CACHE_SALT;
    if (!n.isTextual() || n.asText().isEmpty() || n.asText().length() > max) {
      throw ApiError.invalid(
          "cache_salt", "cache_salt must be a string of 1 to " + max + " characters");
    }
    return n.asText();
  }

  /**
   * A completion's {@code echo}: the prompt comes back before the completion, with its tokens'
   * log-probabilities when {@code logprobs} is given (what evaluation harnesses score prompts
   * with).
   */
  private static boolean echo(JsonNode root, boolean stream) throws ApiError {
    boolean echo = bool(root, "echo");
    if (echo && stream) {
      throw ApiError.invalid("echo", "echo is served for answers that are not streamed");
    }
    return echo;
  }

  private void checkModel(JsonNode m) throws ApiError {
    if (m == null || m.isNull()) {
      return; // the served model, as vLLM takes it
    }
    if (!m.isTextual()) {
      throw ApiError.invalid("model", "model must be a string");
    }
    if (!m.asText().equals(model.name())) {
      throw ApiError.unknownModel(abbreviate(m.asText()), model.name());
    }
  }

  private static GenerationRequest.Prompt prompt(JsonNode p) throws ApiError {
    if (p == null || p.isNull()) {
      throw ApiError.invalid("prompt", "prompt is required: a string, or an array of token ids");
    }
    if (p.isTextual()) {
      return new GenerationRequest.Prompt.Text(p.asText());
    }
    if (!p.isArray()) {
      throw ApiError.invalid(
          "prompt", "prompt must be a string or an array of token ids, got " + kind(p));
    }
    if (p.size() > 0 && (p.get(0).isTextual() || p.get(0).isArray())) {
      // OpenAI's batch forms: one prompt is served, as a list of one
      if (p.size() != 1) {
        throw ApiError.invalid(
            "prompt", "prompt holds " + p.size() + " prompts; this server takes one per request");
      }
      return prompt(p.get(0));
    }
    int[] ids = new int[p.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode t = p.get(i);
      if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0) {
        throw ApiError.invalid(
            "prompt",
            "prompt["
                + i
                + "] must be a token id (an integer >= 0), got "
                + abbreviate(t.toString()));
      }
      ids[i] = t.asInt();
    }
    return new GenerationRequest.Prompt.TokenIds(ids);
  }

  private static GenerationRequest.Prompt messages(JsonNode m) throws ApiError {
    if (m == null || !m.isArray() || m.isEmpty()) {
      throw ApiError.invalid("messages", "messages must be a non-empty array of {role, content}");
    }
    List<ChatMessage> out = new ArrayList<>(m.size());
    for (int i = 0; i < m.size(); i++) {
      JsonNode msg = m.get(i);
      String field = "messages[" + i + "]";
      if (!msg.isObject()) {
        throw ApiError.invalid(field, field + " must be an object {role, content}");
      }
      JsonNode role = msg.get("role");
      if (role == null || !role.isTextual() || role.asText().isEmpty()) {
        throw ApiError.invalid(field + ".role", field + ".role must be a non-empty string");
      }
      out.add(new ChatMessage(role.asText(), content(msg.get("content"), field + ".content")));
    }
    return new GenerationRequest.Prompt.Chat(out);
  }

  /** A message's content: a string, null (as an assistant's with tool calls), or text parts. */
  private static String content(JsonNode c, String field) throws ApiError {
    if (c == null || c.isNull()) {
      return "";
    }
    if (c.isTextual()) {
      return c.asText();
    }
    if (!c.isArray()) {
      throw ApiError.invalid(field, field + " must be a string or an array of text parts");
    }
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < c.size(); i++) {
      JsonNode part = c.get(i);
      if (!part.isObject()
          || !"text".equals(part.path("type").asText())
          || !part.path("text").isTextual()) {
        throw ApiError.invalid(
            field,
            field
                + "["
                + i
                + "] must be {\"type\": \"text\", \"text\": ...}: only text is "
                + "served");
      }
      text.append(part.get("text").asText());
    }
    return text.toString();
  }

  /** max_completion_tokens (chat) or max_tokens; 0 = the server's default; at most the context. */
  private long maxTokens(JsonNode root, boolean chat) throws ApiError {
    String field =
        chat && present(root, "max_completion_tokens") != null
            ? "max_completion_tokens"
            : "max_tokens";
    JsonNode n = present(root, field);
    if (n == null) {
      return 0;
    }
    if (!n.isIntegralNumber()) {
      throw ApiError.invalid(field, field + " must be an integer, got " + abbreviate(n.toString()));
    }
    if (!n.canConvertToLong() || n.asLong() < 1 || n.asLong() >= model.contextTokens()) {
      throw ApiError.invalid(
          field,
          field
              + " must be between 1 and "
              + (model.contextTokens() - 1)
              + " (the context of "
              + model.name()
              + " holds "
              + model.contextTokens()
              + " tokens, prompt included), got "
              + abbreviate(n.toString()));
    }
    return n.asLong();
  }

  /**
   * A completion's {@code logprobs}: how many most likely tokens to list beside the chosen one
   * (absent or false: none, -1).
   */
  private static int completionLogprobs(JsonNode root) throws ApiError {
    JsonNode n = present(root, "logprobs");
    if (n == null || (n.isBoolean() && !n.asBoolean())) {
      return -1;
    }
    return logprobCount(n, "logprobs");
  }

  /**
   * A chat completion's {@code logprobs} (true or false) and {@code top_logprobs} (how many most
   * likely tokens to list; only with logprobs, as OpenAI has it).
   */
  private static int chatLogprobs(JsonNode root) throws ApiError {
    boolean wanted = bool(root, "logprobs");
    JsonNode top = present(root, "top_logprobs");
    if (top == null) {
      return wanted ? 0 : -1;
    }
    if (!wanted) {
      throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
    }
    return logprobCount(top, "top_logprobs");
  }

  private static int logprobCount(JsonNode n, String field) throws ApiError {
    int max = GenerationRequest.Sampling.MAX_LOGPROBS;
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 0 || n.asInt() > max) {
      throw ApiError.invalid(
          field,
          field + " must be an integer between 0 and " + max + ", got " + abbreviate(n.toString()));
    }
    return n.asInt();
  }

  /**
   * Features of OpenAI's API this server does not have: refused when asked for, accepted at their
   * defaults.
   */
  private static void refuseUnsupported(JsonNode root, boolean chat) throws ApiError {
    JsonNode n = present(root, "n");
    if (n != null && !(n.isIntegralNumber() && n.asLong() == 1)) {
      throw ApiError.invalid("n", "n must be 1: one choice per request is served");
    }
    JsonNode bestOf = present(root, "best_of");
    if (bestOf != null && !(bestOf.isIntegralNumber() && bestOf.asLong() == 1)) {
      throw ApiError.invalid("best_of", "best_of must be 1");
    }
    if (chat && bool(root, "echo")) {
      throw ApiError.invalid("echo", "echo is served by /v1/completions, not by chat completions");
    }
    if (present(root, "suffix") != null) {
      throw ApiError.invalid("suffix", "suffix is not served");
    }
    JsonNode tools = present(root, "tools");
    if (chat && tools != null && !(tools.isArray() && tools.isEmpty())) {
      throw ApiError.invalid("tools", "tools are not served");
    }
  }
}
