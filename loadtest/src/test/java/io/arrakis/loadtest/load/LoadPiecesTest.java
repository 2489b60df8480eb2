package io.arrakis.loadtest.load;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class LoadPiecesTest {
  @Test
  void tokenCountsParseFixedAndRanges() {
    assertThat(TokenCounts.parse("16")).isEqualTo(TokenCounts.fixed(16));
    TokenCounts range = TokenCounts.parse("1-64");
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < 1000; i++) {
      assertThat(range.next(random)).isBetween(1, 64);
    }
    assertThat(range.toString()).isEqualTo("1-64");
    assertThatThrownBy(() -> TokenCounts.parse("x"))
        .hasMessageContaining("a count (16) or a range (1-64)");
    assertThatThrownBy(() -> TokenCounts.parse("0")).hasMessageContaining("1 <= min <= max");
  }

  @Test
  void imbalanceIsMaxOverMeanCountingIdleNodes() {
    Map<String, Long> load = new LinkedHashMap<>();
    load.put("a", 30L);
    load.put("b", 10L);
    load.put("c", 0L);
    assertThat(ClusterLoad.imbalance(load)).isEqualTo(2.25);
    assertThat(ClusterLoad.imbalance(Map.of("a", 0L))).isNaN();
  }

  @Test
  void recorderIntervalsAddUpToTheTotals() {
    LoadRecorder r = new LoadRecorder();
    for (int i = 0; i < 5; i++) {
      r.sent();
    }
    r.ok(2_000_000, 3);
    r.ok(4_000_000, 1);
    r.failed("UNAVAILABLE");
    assertThat(r.outstanding()).isEqualTo(2);
    LoadRecorder.Interval first = r.interval();
    r.ok(1_000_000, 2);
    LoadRecorder.Interval second = r.interval();
    assertThat(first.ok() + second.ok()).isEqualTo(3);
    assertThat(first.tokens() + second.tokens()).isEqualTo(6);
    assertThat(r.totalLatencyMicros().getTotalCount()).isEqualTo(3);
    assertThat(r.byStatus()).containsEntry("OK", 3L).containsEntry("UNAVAILABLE", 1L);
  }

  @Test
  void samplerAddsTheBiasToStandardNormalNoise() {
    InputSampler s = new InputSampler(2, new float[] {5, -5}, 3);
    float[] x = s.sample(10_000);
    double a = 0;
    double b = 0;
    for (int t = 0; t < 10_000; t++) {
      a += x[2 * t];
      b += x[2 * t + 1];
    }
    assertThat(a / 10_000).isCloseTo(5, Offset.offset(0.05));
    assertThat(b / 10_000).isCloseTo(-5, Offset.offset(0.05));
  }
}
