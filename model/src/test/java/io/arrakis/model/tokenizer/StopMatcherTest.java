package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Stop strings in a stream of text deltas: the same answer however the text is split. */
class StopMatcherTest {
  private static final long SEED = 7_251_204L;

  @Test
  void stopsAtTheStopStringAndShowsOnlyTheTextBeforeIt() {
    StopMatcher m = StopStrings.of(List.of("\n\n"), StopLimits.DEFAULT).newMatcher();

    assertThat(m.feed("Hello.\n")).isEqualTo("Hello.");
    assertThat(m.stopped()).isFalse();
    assertThat(m.feed("\nMore")).isEmpty();
    assertThat(m.stopped()).isTrue();
    assertThat(m.matched()).contains("\n\n");
    assertThat(m.feed("ignored")).isEmpty();
    assertThat(m.flush()).isEmpty();
  }

  @Test
  void holdsBackOnlyWhatCouldStillBeAStopStringAndReleasesItWhenItIsNot() {
    StopMatcher m = StopStrings.of(List.of("</answer>"), StopLimits.DEFAULT).newMatcher();

    assertThat(m.feed("x </ans")).isEqualTo("x ");
    assertThat(m.feed("wer")).isEmpty();
    assertThat(m.feed("ing")).isEqualTo("</answering");
    assertThat(m.feed(" </a")).isEqualTo(" ");
    assertThat(m.flush()).as("the stream ended: what was held back is shown").isEqualTo("</a");
    assertThat(m.stopped()).isFalse();
  }

  @Test
  void theFirstStopStringToEndWinsAndOfThoseEndingTogetherTheLongest() {
    StopStrings stops = StopStrings.of(List.of("bcd", "c", "abc"), StopLimits.DEFAULT);

    StopMatcher m = stops.newMatcher();
    assertThat(m.feed("xabcd")).isEqualTo("x");
    assertThat(m.matched()).contains("abc");

    StopMatcher n = StopStrings.of(List.of("bcd", "bc"), StopLimits.DEFAULT).newMatcher();
    assertThat(n.feed("abcd")).isEqualTo("a");
    assertThat(n.matched()).contains("bc");
  }

  @Test
  void aStopStringEndingWhereItMayNotStopIsShownAndOneEndingLaterStops() {
    StopMatcher m = StopStrings.of(List.of("END"), StopLimits.DEFAULT).newMatcher();

    assertThat(m.feed("an END", false)).as("ends before min tokens: not a stop").isEqualTo("an ");
    assertThat(m.stopped()).isFalse();
    assertThat(m.feed(" and E", false)).isEqualTo("END and ");
    assertThat(m.feed("ND here", true)).as("begun before, ended after: a stop").isEmpty();
    assertThat(m.stopped()).isTrue();
    assertThat(m.matched()).contains("END");

    StopMatcher n = StopStrings.of(List.of("END"), StopLimits.DEFAULT).newMatcher();
    assertThat(n.feed("x END", false)).isEqualTo("x ");
    assertThat(n.feed("!", true)).isEqualTo("END!");
    assertThat(n.stopped()).isFalse();
  }

  @Test
  void withoutStopStringsEverythingPassesAtOnce() {
    StopMatcher m = StopStrings.of(List.of(), StopLimits.DEFAULT).newMatcher();

    assertThat(m.feed("abc")).isEqualTo("abc");
    assertThat(m.flush()).isEmpty();
  }

  @Test
  void stopStringsWithSurrogatePairsAndRepeatsMatch() {
    StopMatcher m = StopStrings.of(List.of("🎉🎉", "aab"), StopLimits.DEFAULT).newMatcher();

    assertThat(m.feed("aaa") + m.feed("ab")).isEqualTo("aa");
    StopMatcher e = StopStrings.of(List.of("🎉🎉"), StopLimits.DEFAULT).newMatcher();
    assertThat(e.feed("x🎉") + e.feed("y🎉") + e.feed("🎉z")).isEqualTo("x🎉y");
  }

  @Test
  void propertyAnySplitOfTheTextGivesTheSameOutputAsTheWholeText() {
    Random random = new Random(SEED);
    String alphabet = "ab🎉\n";
    for (int trial = 0; trial < 2000; trial++) {
      List<String> stops = new ArrayList<>();
      int count = 1 + random.nextInt(3);
      for (int i = 0; i < count; i++) {
        stops.add(randomText(random, alphabet, 1 + random.nextInt(4)));
      }
      String text = randomText(random, alphabet, random.nextInt(40));
      StopStrings stopStrings = StopStrings.of(stops, StopLimits.DEFAULT);

      String expected = reference(text, stops);
      String whole = run(stopStrings, List.of(text));
      String split = run(stopStrings, randomSplit(random, text));

      assertThat(whole).as("stops %s in %s", stops, text).isEqualTo(expected);
      assertThat(split).as("stops %s in %s", stops, text).isEqualTo(expected);
    }
  }

  @Test
  void tooManyOrTooLongStopStringsAreRefusedNamingTheLimit() {
    StopLimits limits = new StopLimits(4, 8);

    assertThatThrownBy(() -> StopStrings.of(Collections.nCopies(10_000, "x"), limits))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("10000 strings")
        .hasMessageContaining("at most 4")
        .hasMessageContaining("maxStrings");
    assertThatThrownBy(() -> StopStrings.of(List.of("ok", "123456789"), limits))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("stop[1]")
        .hasMessageContaining("9 characters")
        .hasMessageContaining("maxLength");
    assertThatThrownBy(() -> StopStrings.of(List.of(""), limits))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("stop[0] is empty");
    assertThatThrownBy(() -> StopStrings.of(List.of("a\uD800"), limits))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("unpaired surrogate");
  }

  /**
   * Shown text, the way the stream's client sees it: deltas, then the flush if no stop string came.
   */
  private static String run(StopStrings stops, List<String> deltas) {
    StopMatcher m = stops.newMatcher();
    StringBuilder out = new StringBuilder();
    for (String d : deltas) {
      out.append(m.feed(d));
    }
    if (!m.stopped()) {
      out.append(m.flush());
    }
    return out + (m.stopped() ? "|" + m.matched().orElseThrow() : "");
  }

  /**
   * The definition, by brute force: the first end position of any stop; the longest one ending
   * there.
   */
  private static String reference(String text, List<String> stops) {
    for (int end = 1; end <= text.length(); end++) {
      String best = null;
      for (String s : stops) {
        if (end >= s.length()
            && text.startsWith(s, end - s.length())
            && (best == null || s.length() > best.length())) {
          best = s;
        }
      }
      if (best != null) {
        return text.substring(0, end - best.length()) + "|" + best;
      }
    }
    return text;
  }

  private static String randomText(Random random, String alphabet, int codePoints) {
    StringBuilder out = new StringBuilder();
    int n = alphabet.codePointCount(0, alphabet.length());
    for (int i = 0; i < codePoints; i++) {
      out.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, random.nextInt(n))));
    }
    return out.toString();
  }

  /** Splits at random code point boundaries (deltas are whole characters). */
  private static List<String> randomSplit(Random random, String text) {
    List<String> out = new ArrayList<>();
    int start = 0;
    while (start < text.length()) {
      int cps = text.codePointCount(start, text.length());
      int end = text.offsetByCodePoints(start, 1 + random.nextInt(Math.min(cps, 5)));
      out.add(text.substring(start, end));
      start = end;
    }
    return out;
  }
}
