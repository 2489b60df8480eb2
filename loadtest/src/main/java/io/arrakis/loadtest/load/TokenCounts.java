package io.arrakis.loadtest.load;

import java.util.SplittableRandom;

/**
 * How many tokens a request carries: a fixed number ("16", "fixed:16") or uniform over a range
 * ("1-64", "uniform:1-64").
 */
public record TokenCounts(int min, int max) {
  public TokenCounts {
    if (min < 1 || max < min) {
      throw new IllegalArgumentException(
          "token counts must satisfy 1 <= min <= max, got " + min + "-" + max);
    }
  }

  public static TokenCounts fixed(int tokens) {
    return new TokenCounts(tokens, tokens);
  }

  /** "T" or "MIN-MAX", optionally named: "fixed:T", "uniform:MIN-MAX". */
  public static TokenCounts parse(String spec) {
    String s = spec.trim();
    int colon = s.indexOf(':');
    if (colon >= 0) {
      String kind = s.substring(0, colon).trim();
      String rest = s.substring(colon + 1).trim();
      boolean range = rest.indexOf('-') >= 0;
      if (!((kind.equals("fixed") && !range) || (kind.equals("uniform") && range))) {
        throw new IllegalArgumentException(
            "token distribution must be fixed:T or uniform:MIN-MAX, got '" + spec + "'");
      }
      s = rest;
    }
    try {
      int dash = s.indexOf('-');
      if (dash < 0) {
        return fixed(Integer.parseInt(s));
      }
      return new TokenCounts(
          Integer.parseInt(s.substring(0, dash).trim()),
          Integer.parseInt(s.substring(dash + 1).trim()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "tokens must be a count (16) or a range (1-64), got '" + spec + "'");
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
