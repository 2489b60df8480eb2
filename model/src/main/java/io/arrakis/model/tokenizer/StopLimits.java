package io.arrakis.model.tokenizer;

/**
 * How many stop strings a request may give and how long each may be: a stream's matching costs
 * O(characters × strings) and holds back at most {@code maxLength - 1} characters.
 *
 * @param maxStrings stop strings per request
 * @param maxLength characters (UTF-16 units) per stop string
 */
public record StopLimits(int maxStrings, int maxLength) {
  /** 32 strings of up to 512 characters (OpenAI's API takes 4; vLLM has no limit). */
  public static final StopLimits DEFAULT = new StopLimits(32, 512);

  public StopLimits {
    if (maxStrings < 1 || maxLength < 1) {
      throw new IllegalArgumentException(
          "stop limits must be positive: " + maxStrings + ", " + maxLength);
    }
  }
}
