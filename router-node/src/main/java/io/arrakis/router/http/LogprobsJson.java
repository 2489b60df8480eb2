package io.arrakis.router.http;

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
 * among them, {@code text_offset}) and a chat completion's ({@code content}: per token its text,
 * log-probability, UTF-8 bytes and {@code top_logprobs}). Tokens are named by their text decoded
 * alone, as vLLM names them. One per request: a stream's text offsets go on from chunk to chunk.
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
    ArrayNode texts = root.putArray("tokens");
    ArrayNode logprobs = root.putArray("token_logprobs");
    ArrayNode tops = root.putArray("top_logprobs");
    ArrayNode offsets = root.putArray("text_offset");
    for (TokenLogprobs t : tokens) {
      String text = tokenText.apply(t.token());
      texts.add(text);
      logprobs.add(finite(t.logprob()));
      ObjectNode top = tops.addObject();
      for (int i = 0; i < t.topIds().length; i++) {
        top.put(tokenText.apply(t.topIds()[i]), finite(t.topLogprobs()[i]));
      }
      top.put(text, finite(t.logprob()));
      offsets.add(textOffset);
      textOffset += text.length();
    }
    return root;
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

  private static double finite(float logprob) {
    return Math.max(logprob, FLOOR);
  }
}
