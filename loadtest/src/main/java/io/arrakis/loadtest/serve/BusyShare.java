package io.arrakis.loadtest.serve;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The router's micro-batch overlap counters from its /metrics ({@code arrakis_serve_busy_seconds}:
 * router alone, expert nodes alone, both at once, neither), in seconds; two readings give the
 * shares of the time between them, on the router's own clock (the four sides add up to it).
 */
public record BusyShare(double router, double experts, double both, double idle) {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  public static BusyShare read(String host, int metricsPort)
      throws IOException, InterruptedException {
    String text =
        HTTP.send(
                HttpRequest.newBuilder(
                        URI.create("http://" + host + ":" + metricsPort + "/metrics"))
                    .timeout(Duration.ofSeconds(10))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    return parse(text);
  }

  /** From a Prometheus text exposition. */
  public static BusyShare parse(String metrics) {
    return new BusyShare(
        value(metrics, "router"),
        value(metrics, "experts"),
        value(metrics, "both"),
        value(metrics, "idle"));
  }

  private static double value(String metrics, String side) {
    String prefix = "arrakis_serve_busy_seconds_total{side=\"" + side + "\"";
    for (String line : metrics.split("\n", -1)) {
      if (line.startsWith(prefix)) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new IllegalStateException(
        "the router's /metrics have no " + prefix + "}: is it serving a whole model?");
  }

  /** What happened between {@code before} and this reading. */
  public BusyShare since(BusyShare before) {
    return new BusyShare(
        router - before.router, experts - before.experts, both - before.both, idle - before.idle);
  }

  /** Seconds between the readings. */
  public double seconds() {
    return router + experts + both + idle;
  }

  /** Share of the busy time during which router and expert nodes were both busy. */
  public double overlap() {
    double any = router + experts + both;
    return any == 0 ? 0 : both / any;
  }

  /** Share of the time between the readings the router computed (alone or not). */
  public double routerBusy() {
    return seconds() == 0 ? 0 : (router + both) / seconds();
  }

  /** Share of the time between the readings the expert nodes had a step's MoE layer. */
  public double expertsBusy() {
    return seconds() == 0 ? 0 : (experts + both) / seconds();
  }
}
