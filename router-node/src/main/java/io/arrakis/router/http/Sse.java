package io.arrakis.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import org.apache.pekko.util.ByteString;

/**
 * Server-sent events as OpenAI streams them: each chunk one {@code data: JSON} event (compact JSON
 * has no newline, so one line), the stream's end {@code data: [DONE]}.
 */
final class Sse {
  static final ByteString DONE = ByteString.fromString("data: [DONE]\n\n", StandardCharsets.UTF_8);
  private static final ByteString PREFIX = ByteString.fromString("data: ", StandardCharsets.UTF_8);
  private static final ByteString END = ByteString.fromString("\n\n", StandardCharsets.UTF_8);

  private Sse() {}

  static ByteString event(JsonNode data) {
    return PREFIX.concat(ByteString.fromArrayUnsafe(Replies.bytes(data))).concat(END);
  }
}
