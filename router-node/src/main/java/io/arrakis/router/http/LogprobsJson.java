package io.arrakis.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.sampling.TokenLogprobs;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.IntFunction;

/**
 * A choice's {@code logprobs} in OpenAI's two shapes: a completion's ({@code tokens}, {@code
 * token_logprobs}, {@code top_logprobs} as token → log-probability with the chosen token always
 * among them (tokens of one text share an entry, the likeliest's), {@code text_offset}) and a chat
 * completion's ({@code content}: per token its text, log-probability, UTF-8 bytes and {@code
 * top_logprobs}). Tokens are named by their text decoded alone, as vLLM names them. One per
 * request: a stream's text offsets go on from chunk to chunk.
 */
final class LogprobsJson {
  /** JSON has no infinity: a token the model rules out is listed at vLLM's floor. */
  private static final double FLOOR = -9999.0;

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private final IntFunction<String> tokenText;
  private int textOffset;

  LogprobsJson(IntFunction<String> tokenText) {
    this.tokenText = tokenText;
  }

  /** A completion's {@code logprobs} for these tokens. */
  ObjectNode completion(List<TokenLogprobs> tokens) {
    ObjectNode root = NODES.objectNode();
    root.putArray("tokens");
    root.putArray("token_logprobs");
    root.putArray("top_logprobs");
    root.putArray("text_offset");
    add(root, tokens);
    return root;
  }

  /**
   * An echoed completion's {@code logprobs}: the prompt's tokens first, the first of them with none
   * (null, as OpenAI and vLLM give it), then the generated ones.
   */
  ObjectNode completion(int[] promptIds, List<TokenLogprobs> prompt, List<TokenLogprobs> tokens) {
    ObjectNode root = NODES.objectNode();
    String first = tokenText.apply(promptIds[0]);
    root.putArray("tokens").add(first);
    root.putArray("token_logprobs").addNull();
    root.putArray("top_logprobs").addNull();
    root.putArray("text_offset").add(textOffset);
    textOffset += first.length();
    add(root, prompt);
    add(root, tokens);
    return root;
  }

  private void add(ObjectNode root, List<TokenLogprobs> tokens) {
    ArrayNode texts = (ArrayNode) root.get("tokens");
    ArrayNode logprobs = (ArrayNode) root.get("token_logprobs");
    ArrayNode tops = (ArrayNode) root.get("top_logprobs");
    ArrayNode offsets = (ArrayNode) root.get("text_offset");
    for (TokenLogprobs t : tokens) {
      String text = tokenText.apply(t.token());
      texts.add(text);
      logprobs.add(finite(t.logprob()));
      ObjectNode top = tops.addObject();
      for (int i = 0; i < t.topIds().length; i++) {
        best(top, tokenText.apply(t.topIds()[i]), t.topLogprobs()[i]);
      }
      best(top, text, t.logprob());
      offsets.add(textOffset);
      textOffset += text.length();
    }
  }

  /** A chat completion's {@code logprobs} for these tokens. */
  ObjectNode chat(List<TokenLogprobs> tokens) {
    ObjectNode root = NODES.objectNode();
    ArrayNode content = root.putArray("content");
    for (TokenLogprobs t : tokens) {
      ObjectNode entry = entry(content.addObject(), t.token(), t.logprob());
      ArrayNode top = entry.putArray("top_logprobs");
      for (int i = 0; i < t.topIds().length; i++) {
        entry(top.addObject(), t.topIds()[i], t.topLogprobs()[i]);
      }
    }
    return root;
  }

  private ObjectNode entry(ObjectNode node, int token, float logprob) {
    String text = tokenText.apply(token);
    node.put("token", text);
    node.put("logprob", finite(logprob));
    ArrayNode bytes = node.putArray("bytes");
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      bytes.add(b & 0xff);
    }
    return node;
  }

  /**
   * Lists a token under its text; tokens of the same text (pieces of characters all show as U+FFFD)
   * share an entry, the likeliest's, so that the largest value listed is always the top token's.
   */
  private static void best(ObjectNode top, String text, float logprob) {
    JsonNode listed = top.get(text);
    if (listed == null || listed.asDouble() < finite(logprob)) {
      top.put(text, finite(logprob));
    }
  }

  private static double finite(float logprob) {
    return Math.max(logprob, FLOOR);
  }
}
