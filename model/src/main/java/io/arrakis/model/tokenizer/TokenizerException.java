package io.arrakis.model.tokenizer;

/**
 * A model's text files (tokenizer.json, tokenizer_config.json, generation_config.json, a chat
 * template) that are missing, malformed or inconsistent, or text that cannot be tokenized; the
 * message names the file and, where one is at fault, the field.
 */
public class TokenizerException extends RuntimeException {
  public TokenizerException(String message) {
    super(message);
  }

  public TokenizerException(String message, Throwable cause) {
    super(message, cause);
  }
}
