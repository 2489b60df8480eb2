package io.arrakis.model.tokenizer;

import java.util.LinkedHashSet;
import java.util.List;

/**
 * A request's stop strings, checked against {@link StopLimits} and prepared for matching (a KMP
 * failure table each); {@link #newMatcher()} gives one stream its matcher. Immutable, shareable.
 */
public final class StopStrings {
  public static final StopStrings NONE = new StopStrings(List.of());

  private final List<String> strings;
  private final int[][] failure;

  private StopStrings(List<String> strings) {
    this.strings = strings;
    this.failure = new int[strings.size()][];
    for (int i = 0; i < strings.size(); i++) {
      failure[i] = failureTable(strings.get(i));
    }
  }

  /**
   * The stop strings of a request (duplicates dropped); an {@link IllegalArgumentException} names
   * the string and the limit it breaks: more than {@code maxStrings}, one longer than {@code
   * maxLength}, an empty one, or one that is not valid Unicode (an unpaired surrogate).
   */
  public static StopStrings of(List<String> stops, StopLimits limits) {
    if (stops == null || stops.isEmpty()) {
      return NONE;
    }
    if (stops.size() > limits.maxStrings()) {
      throw new IllegalArgumentException(
          "stop: "
              + stops.size()
              + " strings, at most "
              + limits.maxStrings()
              + " allowed (maxStrings)");
    }
    LinkedHashSet<String> unique = new LinkedHashSet<>();
    for (int i = 0; i < stops.size(); i++) {
      String s = stops.get(i);
      if (s == null || s.isEmpty()) {
        throw new IllegalArgumentException("stop[" + i + "] is empty");
      }
      if (s.length() > limits.maxLength()) {
        throw new IllegalArgumentException(
            "stop["
                + i
                + "] is "
                + s.length()
                + " characters long, at most "
                + limits.maxLength()
                + " allowed (maxLength)");
      }
      if (!Tokenizer.wellFormed(s).equals(s)) {
        throw new IllegalArgumentException(
            "stop[" + i + "] is not valid Unicode (an unpaired surrogate)");
      }
      unique.add(s);
    }
    return new StopStrings(List.copyOf(unique));
  }

  /** failure[k] = length of the longest proper prefix of s[0..k] that is also its suffix. */
  private static int[] failureTable(String s) {
    int[] f = new int[s.length()];
    for (int i = 1, k = 0; i < s.length(); i++) {
      while (k > 0 && s.charAt(i) != s.charAt(k)) {
        k = f[k - 1];
      }
      if (s.charAt(i) == s.charAt(k)) {
        k++;
      }
      f[i] = k;
    }
    return f;
  }

  /** A matcher for one stream. */
  public StopMatcher newMatcher() {
    return new StopMatcher(this);
  }

  public List<String> strings() {
    return strings;
  }

  public boolean isEmpty() {
    return strings.isEmpty();
  }

  int count() {
    return strings.size();
  }

  String string(int i) {
    return strings.get(i);
  }

  /**
   * The next match length of stop {@code i} after {@code matched} characters when {@code c} comes.
   */
  int advance(int i, int matched, char c) {
    String s = strings.get(i);
    if (matched == s.length()) {
      matched = failure[i][matched - 1];
    }
    while (matched > 0 && s.charAt(matched) != c) {
      matched = failure[i][matched - 1];
    }
    return s.charAt(matched) == c ? matched + 1 : 0;
  }
}
