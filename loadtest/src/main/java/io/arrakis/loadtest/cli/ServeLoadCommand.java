package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.report.ServingHtmlReport;
import io.arrakis.loadtest.report.ServingReport;
import io.arrakis.loadtest.serve.OpenAiClient;
import io.arrakis.loadtest.serve.ServingBenchmark;
import io.arrakis.loadtest.serve.ServingLoad;
import io.arrakis.loadtest.serve.ServingRun;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis loadtest serve}: the serving load test of {@code vllm bench serve} against a
 * router's OpenAI-compatible HTTP API or its gRPC {@code Generate}.
 */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description =
        "Serving load test, as vllm bench serve: random token-id prompts of --input-len tokens each generating "
            + "exactly --output-len (greedy, eos ignored; both spread by --range-ratio), streamed through the router's "
            + "OpenAI-compatible HTTP API (/v1/completions) or gRPC Generate; closed loop (--max-concurrency streams) "
            + "or Poisson arrivals (--request-rate). Reports request and token throughput, TTFT, TPOT, ITL and "
            + "end-to-end latency (mean, median, p90, p99), failures by status, tokens per expert node. The target "
            + "defaults to the local cluster's router. Defaults: --duration 30s --warmup 5s --max-concurrency 8 "
            + "--input-len 128 --output-len 128.")
final class ServeLoadCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--backend",
      defaultValue = "openai",
      description =
          "openai (HTTP /v1/completions, streamed) or grpc (Generate) (default: ${DEFAULT-VALUE}).")
  String backend;

  @Option(
      names = "--base-url",
      paramLabel = "URL",
      description =
          "The HTTP API, e.g. http://127.0.0.1:8000 (default: the local cluster's router's). "
              + "--target then names the router's gRPC address for its load stats.")
  String baseUrl;

  @Option(
      names = "--input-len",
      defaultValue = "128",
      description = "Prompt tokens per request (default: ${DEFAULT-VALUE}).")
  int inputLen;

  @Option(
      names = "--prefix-len",
      defaultValue = "0",
      description =
          "Random ids that every prompt begins with, before its own --input-len, as vLLM's "
              + "--random-prefix-len: a shared system prompt, for the router's prefix caching (default: ${DEFAULT-VALUE}).")
  int prefixLen;

  @Option(
      names = "--output-len",
      defaultValue = "128",
      description = "Output tokens per request (default: ${DEFAULT-VALUE}).")
  int outputLen;

  @Option(
      names = "--range-ratio",
      defaultValue = "0",
      description =
          "Lengths drawn uniformly from [len*(1-r), len*(1+r)] (default: ${DEFAULT-VALUE}: exact).")
  double rangeRatio;

  @Option(
      names = "--max-concurrency",
      paramLabel = "N",
      description =
          "Closed loop: N streams at once (default 8). With --request-rate: the most in flight.")
  Integer maxConcurrency;

  @Option(
      names = "--request-rate",
      paramLabel = "R",
      description = "Open loop: Poisson arrivals at R requests per second.")
  Double requestRate;

  @Option(
      names = "--duration",
      defaultValue = "30s",
      converter = DurationConverter.class,
      description = "Time requests are started in, after the warm-up (default: ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(
      names = "--num-prompts",
      paramLabel = "N",
      description =
          "Measure N requests (those started after the warm-up) instead of a --duration window, as "
              + "vLLM's --num-prompts: the run ends when the last of them does.")
  Integer numPrompts;

  @Option(
      names = "--warmup",
      defaultValue = "5s",
      converter = DurationConverter.class,
      description = "Load sent first and not counted (default: ${DEFAULT-VALUE}).")
  Duration warmup;

  @Option(
      names = "--vocab",
      paramLabel = "V",
      description =
          "Prompt ids are drawn below V (default: the model's vocabulary when known, else 256).")
  Integer vocab;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description = "Model directory, for its vocabulary (default: the local cluster's model).")
  Path model;

  @Option(
      names = "--seed",
      defaultValue = "1",
      description = "Seed of the prompts, lengths and arrivals (default: ${DEFAULT-VALUE}).")
  long seed;

  @Mixin ReportFlags reports;

  @Mixin TargetFlags router;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (!backend.equals("openai") && !backend.equals("grpc")) {
      throw new IllegalArgumentException("--backend must be openai or grpc, got '" + backend + "'");
    }
    if (requestRate != null && !(requestRate > 0 && requestRate <= 10_000)) {
      throw new IllegalArgumentException(
          "--request-rate must be above 0 and at most 10000, got " + requestRate);
    }
    if (numPrompts != null && numPrompts < 1) {
      throw new IllegalArgumentException("--num-prompts must be at least 1, got " + numPrompts);
    }
    if (maxConcurrency != null && maxConcurrency < 1) {
      throw new IllegalArgumentException("--max-concurrency must be at least 1");
    }
    TargetFlags.Target to = router.resolve();
    Path modelDir =
        model != null ? model : to.localCluster() != null ? to.localCluster().model() : null;
    int v = vocab != null ? vocab : modelDir != null ? ArchConfig.load(modelDir).vocabSize() : 256;
    ServingLoad.Options options =
        new ServingLoad.Options(
            maxConcurrency != null ? maxConcurrency : requestRate != null ? 0 : 8,
            inputLen,
            outputLen,
            rangeRatio,
            requestRate != null ? requestRate : 0,
            warmup,
            duration,
            v,
            seed,
            numPrompts != null ? numPrompts : 0,
            prefixLen);
    ManagedChannel channel = to.security().channelBuilder(to.address()).build();
    try {
      ServingLoad.Client client;
      String target;
      if (backend.equals("grpc")) {
        client = ServingLoad.grpc(InferenceGrpc.newStub(channel));
        target = to.address();
      } else {
        String url = baseUrl != null ? baseUrl : localHttpUrl(to);
        client = new OpenAiClient(url, to.security(), options.bound());
        target = url;
      }
      err.printf(
          Locale.ROOT,
          "serving load on %s %s: %s, %s%d/%d tokens, %.0f s warm-up + %s ...%n",
          backend,
          target,
          options.requestRate() > 0
              ? options.requestRate() + " req/s (Poisson)"
              : "concurrency " + options.concurrency(),
          prefixLen > 0 ? prefixLen + " shared + " : "",
          inputLen,
          outputLen,
          warmup.toMillis() / 1e3,
          numPrompts != null
              ? numPrompts + " measured requests"
              : String.format(Locale.ROOT, "%.0f s", duration.toMillis() / 1e3));
      ServingRun run =
          ServingBenchmark.run(backend, target, client, options, channel, ProgressLine.stderr());
      out.print(ServingReport.text(run));
      out.flush();
      reports.write(
          err, p -> ServingReport.writeJson(run, p), p -> ServingHtmlReport.write(run, p));
      if (run.result().requests() == 0) {
        throw new IllegalStateException(
            "no request succeeded ("
                + run.result().failed()
                + " failed: "
                + run.result().failures()
                + ")");
      }
      return run.result().failed() == 0 ? 0 : 1;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private String localHttpUrl(TargetFlags.Target to) throws IOException {
    String noUrl = "give --base-url: only the local cluster's router has a known HTTP port";
    if (to.localCluster() == null) {
      throw new IllegalArgumentException(noUrl);
    }
    return RunningClusters.running(
            router.stateDir != null ? router.stateDir : Home.fromEnvironment().clusterState())
        .flatMap(LocalCluster::routerHttpUrl)
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    "the local cluster's router has no HTTP API (started with --http-port -1?): "
                        + noUrl));
  }
}
