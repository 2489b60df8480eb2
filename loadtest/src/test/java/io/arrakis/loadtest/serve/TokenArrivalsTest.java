package io.arrakis.loadtest.serve;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TokenArrivalsTest {
  /** A stream started at 0 whose token messages arrived at 10, 20, 35 and 50 ns. */
  private static TokenArrivals stream() {
    TokenArrivals a = new TokenArrivals(0);
    a.add(10, 1);
    a.add(20, 1);
    a.add(35, 2);
    a.add(50, 1);
    return a;
  }

  @Test
  void aWindowHoldsTheGapsThatEndInIt() {
    assertThat(stream().interTokenNanosBetween(20, 50)).containsExactly(10, 15);
    assertThat(stream().interTokenNanosBetween(0, 100)).containsExactly(stream().interTokenNanos());
  }

  @Test
  void theFirstMessageEndsNoGapAndAWindowBeforeItHoldsNone() {
    assertThat(stream().interTokenNanosBetween(0, 11)).isEmpty();
    assertThat(stream().interTokenNanosBetween(51, 100)).isEmpty();
  }

  @Test
  void theWindowsPaceIsMeasuredWhenNoRequestOfItEnded() {
    ServingResult r = new ServingResult();
    r.windowGaps(stream().interTokenNanosBetween(20, 60));

    assertThat(r.ms("tpot", 50)).isNaN();
    assertThat(r.ms("itl", 50)).isNaN();
    assertThat(r.ms("window_itl", 50) * 1e6).isBetween(14.0, 16.0);
    assertThat(r.ms("window_itl", 100) * 1e6).isBetween(14.0, 16.0);
    assertThat(r.ms("window_itl", 0) * 1e6).isBetween(9.0, 11.0);
  }
}
