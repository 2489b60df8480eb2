package io.arrakis.model.tokenizer;

import java.util.Objects;

/** One message of a chat: its role ("system", "user", "assistant", "tool", …) and its text. */
public record ChatMessage(String role, String content) {
  public ChatMessage {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
  }
}
