package io.arrakis.loadtest.testing;

import io.arrakis.loadtest.cluster.LocalCluster;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * A router's own serving figures, read from its /metrics: its TTFT and TPOT histograms' sums
 * (seconds) and counts, and its prefix cache's hits (tokens). Two readings bracket a run.
 */
public record RouterServingMetrics(
    double ttftSum, double ttftCount, double tpotSum, double tpotCount, double prefixHits) {
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  /** The router's figures now, from its metrics port on the local cluster's host. */
  public static RouterServingMetrics read(int metricsPort)
      throws IOException, InterruptedException {
    String text =
        HTTP.send(
                HttpRequest.newBuilder(
                        URI.create("http://" + LocalCluster.HOST + ":" + metricsPort + "/metrics"))
                    .timeout(Duration.ofSeconds(10))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    return new RouterServingMetrics(
        sample(text, "arrakis_serve_time_to_first_token_seconds_sum"),
        sample(text, "arrakis_serve_time_to_first_token_seconds_count"),
        sample(text, "arrakis_serve_time_per_output_token_seconds_sum"),
        sample(text, "arrakis_serve_time_per_output_token_seconds_count"),
        sample(text, "arrakis_serve_prefix_cache_hits_total"));
  }

  /** Requests whose first token came between {@code before} and this reading. */
  public double requestsSince(RouterServingMetrics before) {
    return ttftCount - before.ttftCount;
  }

  /** The mean TTFT (ms) of the requests between {@code before} and this reading. */
  public double meanTtftMsSince(RouterServingMetrics before) {
    return (ttftSum - before.ttftSum) / (ttftCount - before.ttftCount) * 1e3;
  }

  /** The mean TPOT (ms) of the requests that ended between {@code before} and this reading. */
  public double meanTpotMsSince(RouterServingMetrics before) {
    return (tpotSum - before.tpotSum) / (tpotCount - before.tpotCount) * 1e3;
  }

  private static double sample(String metrics, String name) {
    for (String line : metrics.split("\n")) {
      if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError("no " + name + " in the router's /metrics:\n" + metrics);
  }
}
