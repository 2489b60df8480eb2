package io.arrakis.loadtest.report;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.TimelinePoint;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.model.placement.ExpertId;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTML page: the charts, drawn from the run's data, and nothing fetched from a network. */
class HtmlReportTest {
  @TempDir Path tmp;

  @Test
  void pageHasTheChartsAndNoNetworkReferences() throws Exception {
    Histogram h = new Histogram(3_600_000_000L, 3);
    for (int i = 1; i <= 100; i++) {
      h.recordValue(i * 100L);
    }
    Map<String, Long> nodes = new LinkedHashMap<>();
    nodes.put("expert-0", 300L);
    nodes.put("expert-1", 100L);
    Map<ExpertId, Long> experts =
        new TreeMap<>(
            Map.of(new ExpertId(0, 0), 250L, new ExpertId(0, 3), 50L, new ExpertId(1, 1), 100L));
    ClusterLoad load =
        new ClusterLoad(
            nodes, Map.of("expert-0", 3L, "expert-1", 1L), experts, ClusterLoad.imbalance(nodes));
    List<TimelinePoint> timeline =
        List.of(
            new TimelinePoint(1, 1, 50, 0, 200, 2.0, 9.0),
            new TimelinePoint(2, 1, 50, 1, 200, Double.NaN, Double.NaN),
            new TimelinePoint(3, 1, 0, 0, 0, 3.0, 4.0));
    LoadResult r =
        new LoadResult(
            "open",
            "127.0.0.1:1",
            0,
            50,
            TokenCounts.parse("1-8"),
            List.of(0, 1),
            3,
            101,
            100,
            1,
            0,
            Map.of("OK", 100L, "UNAVAILABLE", 1L),
            400,
            h,
            timeline,
            load,
            null,
            true);

    Path file = tmp.resolve("out/report.html");
    HtmlReport.write(r, file);
    String html = Files.readString(file);
    assertThat(html).startsWith("<!DOCTYPE html>").endsWith("</html>\n");
    assertThat(html)
        .contains(
            "<svg id=\"throughput\"",
            "<svg id=\"requests\"",
            "<svg id=\"latency\"",
            "<svg id=\"node-load\"",
            "<svg id=\"expert-heatmap\"");
    assertThat(html)
        .doesNotContainPattern("(?i)https?://")
        .doesNotContain("<link")
        .doesNotContain(" src=");
    // tokens/s, requests/s, p50, p99; the NaN point breaks the latency lines instead of drawing
    // them at 0
    assertThat(html.split("class=\"series\"", -1)).hasSize(5);
    assertThat(html).containsPattern("d=\"M[^\"]+ M");
    assertThat(html)
        .contains(
            "expert-0: 300</title>",
            "layer 0 expert 0: 250 tokens",
            "layer 1 expert 1: 100 tokens");
    // 2 layers x 4 experts (the widest expert id seen is 3)
    assertThat(html.split("class=\"cell\"", -1)).hasSize(9);
    assertThat(html).contains("imbalance (max ÷ mean node load): 1.50", "unanswered 0");
    assertThat(html).contains("<script type=\"application/json\" id=\"report-data\">");
  }

  @Test
  void aRunWithoutClusterStatsStillRenders() {
    LoadResult r =
        new LoadResult(
            "closed",
            "127.0.0.1:1",
            2,
            Double.NaN,
            TokenCounts.fixed(4),
            List.of(0),
            1,
            0,
            0,
            0,
            0,
            Map.of(),
            0,
            new Histogram(3),
            List.of(),
            null,
            "the router's Cluster service did not answer: UNIMPLEMENTED",
            false);
    String html = HtmlReport.render(r);
    assertThat(html)
        .contains("<svg id=\"throughput\"", "UNIMPLEMENTED")
        .doesNotContain("expert-heatmap");
  }
}
