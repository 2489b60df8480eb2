package io.arrakis.model.tokenizer;

import java.util.Arrays;

/**
 * Turns one sequence's token ids, fed one at a time, into text deltas that are always whole
 * characters, and that add up to exactly what decoding all the ids at once gives.
 *
 * <p>The way vLLM and transformers' TextStreamer do it: each new id is decoded together with a
 * window of the ids before it ({@code prefix} … {@code read} already shown, {@code read} … end
 * new), and the text past what the window's first part decodes to is new. A byte-level BPE token
 * can hold part of a multi-byte character; until the rest arrives the window's text ends in U+FFFD,
 * so that much is held back. Only trailing U+FFFDs are held: text before them cannot change any
 * more. The window moves on once its text ends in a whole character; decoding from a token boundary
 * where the text was whole gives the same characters as decoding from the start (UTF-8
 * resynchronises there, and a decoder's first-token effects such as a stripped leading space fall
 * in the window's first part, not in what is shown).
 *
 * <p>One per sequence, not thread-safe. Each step decodes only the window, which stays a few tokens
 * long unless the model keeps producing bytes that are no valid UTF-8 (then it grows with them).
 */
public final class IncrementalDetokenizer {
  private static final char REPLACEMENT = '\uFFFD';

  private final Tokenizer tokenizer;
  private final boolean skipSpecialTokens;

  /** The window: ids[0, prefix) are no longer needed and dropped as the window moves on. */
  private long[] ids = new long[16];

  private int size;
  private int prefix;
  private int read;

  /** decode(ids[prefix, read)). */
  private String prefixText = "";

  private int fed;

  /**
   * Characters of decode(ids[prefix, end)) past prefixText already emitted (before trailing
   * U+FFFDs).
   */
  private int emittedPastPrefix;

  /**
   * @param context ids that come before the first one fed (e.g. the prompt's last few), decoded for
   *     context but never emitted: a decoder that strips the first token's leading space then keeps
   *     it for the first new token, as a continuation of the prompt
   */
  public IncrementalDetokenizer(Tokenizer tokenizer, boolean skipSpecialTokens, int... context) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = skipSpecialTokens;
    for (int id : context) {
      append(id);
    }
    fed = 0;
    read = size;
    prefixText = size == 0 ? "" : decode(0, size);
  }

  public IncrementalDetokenizer(Tokenizer tokenizer, boolean skipSpecialTokens) {
    this(tokenizer, skipSpecialTokens, new int[0]);
  }

  /**
   * Feeds the next id; returns the text it completes (often empty while a character is incomplete).
   */
  public String next(int id) {
    append(id);
    fed++;
    String text = decode(prefix, size);
    int stable = text.length();
    while (stable > 0 && text.charAt(stable - 1) == REPLACEMENT) {
      stable--;
    }
    int start = prefixText.length() + emittedPastPrefix;
    String delta = stable > start ? text.substring(start, stable) : "";
    if (stable == text.length() && text.length() > prefixText.length()) {
      // the text ends in a whole character: the new ids become the next window's first part
      prefix = read;
      read = size;
      prefixText = decode(prefix, read);
      emittedPastPrefix = 0;
      dropBeforePrefix();
    } else {
      emittedPastPrefix += delta.length();
    }
    return delta;
  }

  /** Feeds several ids; returns the text they complete. */
  public String next(int... ids) {
    StringBuilder out = new StringBuilder();
    for (int id : ids) {
      out.append(next(id));
    }
    return out.toString();
  }

  /**
   * The text still held back (an incomplete or invalid character at the end, as U+FFFD, the way
   * decoding everything shows it); call once when the sequence ends.
   */
  public String flush() {
    String text = decode(prefix, size);
    int start = prefixText.length() + emittedPastPrefix;
    String rest = text.length() > start ? text.substring(start) : "";
    emittedPastPrefix += rest.length();
    return rest;
  }

  /** Ids fed so far (context excluded). */
  public int tokenCount() {
    return fed;
  }

  private void dropBeforePrefix() {
    System.arraycopy(ids, prefix, ids, 0, size - prefix);
    size -= prefix;
    read -= prefix;
    prefix = 0;
  }

  private void append(int id) {
    tokenizer.checkId(id);
    if (size == ids.length) {
      ids = Arrays.copyOf(ids, size * 2);
    }
    ids[size++] = id;
  }

  private String decode(int from, int to) {
    return tokenizer.decodeChecked(Arrays.copyOfRange(ids, from, to), skipSpecialTokens);
  }
}
