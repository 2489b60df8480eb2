package io.arrakis.model.tokenizer;

/**
 * What rendering one chat may cost, whatever the messages: past a limit rendering stops with a
 * {@link ChatTemplateException} of reason {@link ChatTemplateException.Reason#LIMIT} naming it.
 *
 * @param maxMessages messages in one chat
 * @param maxOutputChars characters of the rendered prompt, and of any string the template builds
 * @param maxCollectionSize elements of a list or entries of a map the template builds
 * @param maxRange the largest {@code range(n)} a template may iterate over
 * @param maxDepth nesting of macro calls and of rendering
 */
public record ChatTemplateLimits(
    int maxMessages, long maxOutputChars, int maxCollectionSize, int maxRange, int maxDepth) {
  /**
   * Generous for any real conversation: 4,096 messages, 4 Mi characters (about a million tokens).
   */
  public static final ChatTemplateLimits DEFAULT =
      new ChatTemplateLimits(4096, 4L << 20, 65_536, 65_536, 16);

  public ChatTemplateLimits {
    if (maxMessages < 1
        || maxOutputChars < 1
        || maxCollectionSize < 1
        || maxRange < 1
        || maxDepth < 1) {
      throw new IllegalArgumentException("chat template limits must be positive: " + this);
    }
  }
}
