package io.arrakis.loadtest.load;

import java.util.SplittableRandom;

/** How many tokens a request carries: a fixed number ("16") or uniform over a range ("1-64"). */
public record TokenCounts(int min, int max) {
  public TokenCounts {
    if (min < 1 || max < min) {
      throw new IllegalArgumentException("token counts must satisfy 1 <= min <= max, got " + min + "-" + max);
    }
  }

  public static TokenCounts fixed(int tokens) {
    return new TokenCounts(tokens, tokens);
  }

  /** "T" or "MIN-MAX". */
  public static TokenCounts parse(String spec) {
    String s = spec.trim();
    try {
      int dash = s.indexOf('-');
      if (dash < 0) {
        return fixed(Integer.parseInt(s));
      }
      return new TokenCounts(Integer.parseInt(s.substring(0, dash).trim()), Integer.parseInt(s.substring(dash + 1).trim()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("tokens must be a count (16) or a range (1-64), got '" + spec + "'");
    }
  }

  public int next(SplittableRandom random) {
    return min == max ? min : random.nextInt(min, max + 1);
  }

  public double mean() {
    return (min + max) / 2.0;
  }

  @Override
  public String toString() {
    return min == max ? Integer.toString(min) : min + "-" + max;
  }
}
