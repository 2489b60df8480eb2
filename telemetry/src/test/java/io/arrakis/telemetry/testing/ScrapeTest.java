package io.arrakis.telemetry.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Histograms read from Prometheus text as Prometheus reads them (increase, histogram_quantile). */
class ScrapeTest {
  private static String text(int upTo1, int upTo2, int upTo4, int total) {
    return """
        # TYPE t_seconds histogram
        t_seconds_bucket{method="m",status="OK",le="1.0"} %d
        t_seconds_bucket{method="m",status="OK",le="2.0"} %d
        t_seconds_bucket{method="m",status="OK",le="4.0"} %d
        t_seconds_bucket{method="m",status="OK",le="+Inf"} %d
        t_seconds_bucket{method="m",status="CANCELLED",le="+Inf"} 5
        t_seconds_count{method="m",status="OK"} %d
        """
        .formatted(upTo1, upTo2, upTo4, total, total);
  }

  @Test
  void quantilesInterpolateWithinTheirBucketFromZeroUpToTheHighestFiniteBound() {
    Scrape.Histogram h = Scrape.parse(text(10, 30, 40, 40)).histogram("t_seconds", "status", "OK");
    assertThat(h.count()).isEqualTo(40);
    assertThat(h.quantile(0.125))
        .isCloseTo(0.5, within(1e-12)); // rank 5 of the first 10, in (0, 1]
    assertThat(h.quantile(0.5)).isCloseTo(1.5, within(1e-12)); // rank 20: 10 into the 20 of (1, 2]
    assertThat(h.quantile(1.0)).isCloseTo(4.0, within(1e-12));
    assertThat(h.shareAtMost(2.0)).isEqualTo(0.75);
    assertThat(Scrape.parse(text(0, 0, 0, 3)).histogram("t_seconds", "status", "OK").quantile(0.5))
        .as("in +Inf: the highest finite bound")
        .isEqualTo(4.0);
    assertThat(Scrape.parse("").histogram("t_seconds").quantile(0.5)).isNaN();
  }

  @Test
  void sinceKeepsOnlyWhatWasObservedBetweenTwoScrapes() {
    Scrape.Histogram before =
        Scrape.parse(text(100, 100, 100, 100)).histogram("t_seconds", "status", "OK");
    Scrape.Histogram after =
        Scrape.parse(text(110, 190, 200, 200)).histogram("t_seconds", "status", "OK");
    Scrape.Histogram window = after.since(before);
    assertThat(window.count()).isEqualTo(100);
    assertThat(window.quantile(0.99)).isCloseTo(2.0 + 2.0 * (99 - 90) / 10, within(1e-12));
    assertThat(after.quantile(0.99)).as("the whole life instead").isLessThan(window.quantile(0.99));
    assertThat(window.since(Scrape.parse("").histogram("t_seconds"))).isEqualTo(window);
  }
}
