package io.arrakis.model.tokenizer;

import java.util.Arrays;
import java.util.Optional;

/**
 * Finds a stream's first stop string in its text deltas, however the text is split. Fed each delta,
 * it returns the text that can be shown: everything except a tail that could still turn out to be
 * the start of a stop string. At a stop string it returns the text before it and stops; the stop
 * string itself is never shown (as OpenAI's API and vLLM do). The first stop string is the one that
 * ends first in the text; of several ending at the same character, the longest. When the stream
 * ends without one, {@link #flush()} gives the tail held back.
 *
 * <p>Knuth–Morris–Pratt per stop string: O(1) amortised per character and string; holds back at
 * most the longest stop string's length − 1 characters. One per stream, not thread-safe.
 */
public final class StopMatcher {
  private final StopStrings stops;
  private final int[] matched;
  private final StringBuilder held = new StringBuilder();
  private String stoppedAt;

  StopMatcher(StopStrings stops) {
    this.stops = stops;
    this.matched = new int[stops.count()];
  }

  /** The part of {@code delta} (and of the text held back before it) that can be shown now. */
  public String feed(String delta) {
    return feed(delta, true);
  }

  /**
   * As {@link #feed(String)}; with {@code mayStop} false a stop string that ends in this delta does
   * not stop the stream (the text before a sequence's min tokens, as vLLM's {@code min_tokens}),
   * while one that begins in it and ends in a later delta does.
   */
  public String feed(String delta, boolean mayStop) {
    if (stoppedAt != null) {
      return "";
    }
    if (stops.isEmpty()) {
      return delta;
    }
    held.append(delta);
    int base = held.length() - delta.length();
    for (int pos = base; pos < held.length(); pos++) {
      char c = held.charAt(pos);
      int longest = -1;
      for (int i = 0; i < matched.length; i++) {
        matched[i] = stops.advance(i, matched[i], c);
        if (mayStop
            && matched[i] == stops.string(i).length()
            && (longest < 0 || matched[i] > matched[longest])) {
          longest = i;
        }
      }
      if (longest >= 0) {
        stoppedAt = stops.string(longest);
        String shown = held.substring(0, pos + 1 - stoppedAt.length());
        held.setLength(0);
        return shown;
      }
    }
    int keep = 0;
    for (int m : matched) {
      keep = Math.max(keep, m);
    }
    String shown = held.substring(0, held.length() - keep);
    held.delete(0, held.length() - keep);
    return shown;
  }

  /** The text held back; call when the stream ends without a stop string (empty after one). */
  public String flush() {
    String rest = held.toString();
    held.setLength(0);
    Arrays.fill(matched, 0);
    return rest;
  }

  /** Whether a stop string was found. */
  public boolean stopped() {
    return stoppedAt != null;
  }

  /** The stop string found, if any. */
  public Optional<String> matched() {
    return Optional.ofNullable(stoppedAt);
  }
}
