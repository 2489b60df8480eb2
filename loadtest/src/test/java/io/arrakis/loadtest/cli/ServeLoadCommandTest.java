package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.report.ServingHtmlReport;
import io.arrakis.loadtest.testing.RouterServingMetrics;
import io.arrakis.loadtest.testing.TestClusters;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code loadtest serve} against a real cluster serving a whole model (router and two expert
 * processes): through the OpenAI HTTP API at concurrency 8 its TPOT mean agrees with the router's
 * own histograms (read from its /metrics) over the same requests; the JSON has every field of
 * vLLM's report and ours; the HTML page, opened in headless Chromium, shows every chart; through
 * gRPC Generate with Poisson arrivals every request succeeds.
 */
class ServeLoadCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** vLLM's result fields and ours; each must be present (null only where noted). */
  private static final List<String> FIELDS =
      List.of(
          "backend",
          "target",
          "input_len",
          "output_len",
          "range_ratio",
          "prefix_len",
          "request_rate",
          "max_concurrency",
          "completed",
          "failed",
          "duration",
          "total_input_tokens",
          "total_output_tokens",
          "request_throughput",
          "output_throughput",
          "total_token_throughput",
          "failures",
          "output_tokens_per_second",
          "ttfts_ms",
          "tpots_ms",
          "node_load",
          "imbalance");

  /** Closed loop at concurrency 8, 16 prompt and 24 output tokens, no warm-up. */
  private static final List<String> EIGHT_STREAMS =
      List.of(
          "--max-concurrency", "8", "--input-len", "16", "--output-len", "24", "--warmup", "0s");

  @TempDir static Path tmp;
  private static LocalCluster cluster;
  private static int metricsPort;
  private static Path state;

  @BeforeAll
  static void startCluster() throws Exception {
    metricsPort = TestClusters.freePort();
    state = tmp.resolve("state");
    cluster =
        TestClusters.serving(
            ReferenceModels.dir("qwen3_moe"), state, metricsPort, TestClusters.JVM_OPTIONS);
  }

  @AfterAll
  static void stopCluster() throws IOException {
    if (cluster != null) {
      cluster.stop();
    }
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void httpLoadAgreesWithTheRoutersHistogramsAndReportsEverything() throws Exception {
    Path json = tmp.resolve("serve.json");
    Path html = tmp.resolve("serve.html");
    // a first run warms the router's HTTP path and this JVM's client (as vLLM's warm-up request);
    // the compared run opens its own connections before its clock starts
    CliRun warm = serve(EIGHT_STREAMS, "--duration", "2s");
    assertThat(warm.code()).as("%s", warm).isZero();
    RouterServingMetrics before = RouterServingMetrics.read(metricsPort);

    CliRun run =
        serve(
            EIGHT_STREAMS,
            "--duration",
            "4s",
            "--json",
            json.toString(),
            "--html",
            html.toString());

    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out())
        .contains("Serving Benchmark Result", "Successful requests:", "Mean TTFT (ms):")
        .contains(
            "Median TPOT (ms):", "P99 ITL (ms):", "P90 E2EL (ms):", "Imbalance (max / mean):");
    JsonNode r = JSON.readTree(json.toFile());
    for (String f : FIELDS) {
      assertThat(r.has(f)).as("field %s in %s", f, r).isTrue();
    }
    for (String m : List.of("ttft", "tpot", "itl", "e2el")) {
      for (String s : List.of("mean", "median", "std", "p90", "p99")) {
        assertThat(r.path(s + "_" + m + "_ms").isNumber()).as("%s_%s_ms", s, m).isTrue();
      }
    }
    long completed = r.path("completed").asLong();
    assertThat(completed).isGreaterThanOrEqualTo(8);
    assertThat(r.path("failed").asLong()).isZero();
    assertThat(r.path("total_output_tokens").asLong()).isEqualTo(24 * completed);
    assertThat(r.path("total_input_tokens").asLong()).isEqualTo(16 * completed);
    assertThat(r.path("output_throughput").asDouble())
        .isCloseTo(
            24 * completed / r.path("duration").asDouble(),
            within(0.01 * r.path("output_throughput").asDouble() + 0.01));
    assertThat(r.path("node_load")).hasSize(2);
    r.path("node_load").forEach(n -> assertThat(n.asLong()).isPositive());
    assertThat(r.path("imbalance").asDouble()).isBetween(1.0, 2.0);

    // the router's histograms over exactly these requests (no other traffic, no warm-up)
    RouterServingMetrics after = RouterServingMetrics.read(metricsPort);
    assertThat(after.requestsSince(before)).isEqualTo(completed);
    double routerTtft = after.meanTtftMsSince(before);
    double routerTpot = after.meanTpotMsSince(before);
    assertThat(r.path("mean_tpot_ms").asDouble())
        .as("load test TPOT vs the router's %.2f ms", routerTpot)
        .isCloseTo(routerTpot, within(0.10 * routerTpot));

    assertChromiumShowsEveryChart(html);
    // The router's clock runs inside the client's (it starts when the router's API has the request
    // and stops when the token is sampled), so the client's TTFT is at least the router's. Within
    // 10% it is not on this 3-layer model on two cores shared by four JVMs: measured here 39-59
    // against 33-50 ms (1.16-1.21), the request's way in before the router's HTTP handler runs and
    // the first chunk's way out (README, "Known gap"); ServeLoadAgreementTest checks the 10% on
    // the benchmark's model, whose steps hold more than hand-offs.
    double loadTtft = r.path("mean_ttft_ms").asDouble();
    System.out.printf("TTFT: load test %.2f ms, router %.2f ms%n", loadTtft, routerTtft);
    assertThat(loadTtft)
        .as("load test TTFT vs the router's (ms)")
        .isGreaterThanOrEqualTo(routerTtft);
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void grpcLoadWithPoissonArrivals() throws Exception {
    CliRun run =
        serve(
            List.of(),
            "--backend",
            "grpc",
            "--request-rate",
            "20",
            "--input-len",
            "12",
            "--output-len",
            "8",
            "--range-ratio",
            "0.5",
            "--warmup",
            "0s",
            "--duration",
            "2s");
    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out()).contains("Request rate (req/s, Poisson):", "Failed requests:");
    assertThat(run.out()).containsPattern("Successful requests: +[1-9]");
  }

  /**
   * {@code --num-prompts}: exactly that many requests are measured (the warm-up's are not), the run
   * ending with the last of them, as vLLM's benchmark counts them. Their prompts begin with a
   * shared prefix ({@code --prefix-len}), which the router serves from its prefix cache once the
   * warm-up has computed it.
   */
  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aSetNumberOfPromptsIsMeasuredExactly() throws Exception {
    Path json = tmp.resolve("prompts.json");
    RouterServingMetrics before = RouterServingMetrics.read(metricsPort);
    CliRun run =
        serve(
            List.of(),
            "--num-prompts",
            "13",
            "--max-concurrency",
            "4",
            "--input-len",
            "8",
            "--prefix-len",
            "32",
            "--output-len",
            "6",
            "--warmup",
            "1s",
            "--json",
            json.toString());
    assertThat(run.code()).as("%s", run).isZero();
    assertThat(run.out()).containsPattern("Number of prompts: +13");
    assertThat(run.out()).containsPattern("Shared prefix \\(tokens\\): +32");
    JsonNode r = JSON.readTree(json.toFile());
    assertThat(r.path("num_prompts").asInt()).isEqualTo(13);
    assertThat(r.path("completed").asLong()).isEqualTo(13);
    assertThat(r.path("failed").asLong()).isZero();
    assertThat(r.path("total_output_tokens").asLong()).isEqualTo(13 * 6);
    assertThat(r.path("total_input_tokens").asLong()).isEqualTo(13 * (32 + 8));
    assertThat(r.path("prefix_len").asInt()).isEqualTo(32);
    RouterServingMetrics after = RouterServingMetrics.read(metricsPort);
    assertThat(after.requestsSince(before))
        .as("requests the router served, warm-up included")
        .isGreaterThan(13);
    // every measured prompt found the prefix's two full blocks of 16 cached
    assertThat(after.prefixHits() - before.prefixHits())
        .as("prompt tokens served from the router's prefix cache")
        .isGreaterThanOrEqualTo(13 * 32);
  }

  /** {@code loadtest serve} against the test's cluster with {@code common} and {@code more}. */
  private static CliRun serve(List<String> common, String... more) {
    List<String> args =
        new ArrayList<>(List.of("loadtest", "serve", "--state-dir", state.toString()));
    args.addAll(common);
    args.addAll(List.of(more));
    return CliRun.of(args.toArray(String[]::new));
  }

  private static void assertChromiumShowsEveryChart(Path html) throws Exception {
    String chromium = Chromium.binary();
    Path png = tmp.resolve("serve.png");
    int width = 1000;
    int height = 2600;
    Chromium.run(
        chromium,
        "--screenshot=" + png,
        "--window-size=" + width + "," + height,
        html.toUri().toString());
    BufferedImage image = ImageIO.read(png.toFile());
    assertThat(image).as("a PNG at %s", png).isNotNull();
    assertThat(image.getWidth()).isEqualTo(width);
    assertThat(image.getHeight()).isEqualTo(height);
    int first = image.getRGB(0, 0);
    long differing = 0;
    for (int y = 0; y < height; y += 4) {
      for (int x = 0; x < width; x += 4) {
        differing += image.getRGB(x, y) != first ? 1 : 0;
      }
    }
    assertThat(differing).as("pixels unlike the background").isGreaterThan(2000);
    String dom = Chromium.run(chromium, "--dump-dom", html.toUri().toString());
    for (String chart : ServingHtmlReport.CHARTS) {
      assertThat(dom).contains("<svg id=\"" + chart + "\"");
    }
    assertThat(dom).contains("<rect class=\"bar\"", "<path class=\"series\"");
    // kept beside the build's output to be looked at (bench/results holds a copy from one run)
    Files.copy(
        png,
        Path.of("target", "serving-report-screenshot.png"),
        StandardCopyOption.REPLACE_EXISTING);
  }

  /** Headless Chromium, as ./test installs it (Debian's chromium). */
  static final class Chromium {
    static String binary() {
      for (String c : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser")) {
        if (Files.isExecutable(Path.of(c))) {
          return c;
        }
      }
      throw new AssertionError("no chromium: install it (./test does: apt-get install chromium)");
    }

    static String run(String binary, String... args) throws Exception {
      List<String> command =
          new ArrayList<>(
              List.of(binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"));
      command.addAll(List.of(args));
      Path log = Files.createTempFile(tmp, "chromium", ".log");
      Process p = new ProcessBuilder(command).redirectError(log.toFile()).start();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("chromium did not end in 60 s: " + Files.readString(log));
      }
      assertThat(p.exitValue()).as("chromium %s: %s", args[0], Files.readString(log)).isZero();
      return new String(out, StandardCharsets.UTF_8);
    }
  }
}
