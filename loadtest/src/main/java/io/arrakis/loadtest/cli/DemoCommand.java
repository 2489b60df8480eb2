package io.arrakis.loadtest.cli;

import io.arrakis.engine.generate.Generation;
import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.report.ServingReport;
import io.arrakis.loadtest.serve.CompletionCall;
import io.arrakis.loadtest.serve.InProcessGeneration;
import io.arrakis.loadtest.serve.OpenAiClient;
import io.arrakis.loadtest.serve.ServingBenchmark;
import io.arrakis.loadtest.serve.ServingLoad;
import io.arrakis.loadtest.serve.ServingRun;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis demo}: a small whole model (made once), a local cluster of its own, one chat
 * completion streamed to the terminal through the OpenAI-compatible HTTP API and checked against
 * the same model generating in this process, the serving load test with a progress line, its
 * report; the cluster is stopped however the demo ends, Ctrl-C included.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description =
        "Generate a small whole MoE model with random weights (once), start a local cluster (a router and "
            + "--nodes expert processes), stream one chat completion through the OpenAI-compatible HTTP API and check its tokens against the "
            + "model generating in this process, run the "
            + "serving load test (as 'arrakis loadtest serve') and print its report, stop the cluster.")
final class DemoCommand implements Callable<Integer> {
  /** Tokens of the demo's chat completion at most. */
  private static final int CHAT_TOKENS = 48;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Mixin NodesFlag nodes;

  @Option(
      names = "--prompt",
      defaultValue = "Tell me about the desert planet Arrakis.",
      description = "The chat message streamed first (default: '${DEFAULT-VALUE}').")
  String prompt;

  @Option(
      names = "--duration",
      defaultValue = "20s",
      converter = DurationConverter.class,
      description = "Serving load: measured time (default: ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(
      names = "--warmup",
      defaultValue = "3s",
      converter = DurationConverter.class,
      description = "Serving load: unmeasured time first (default: ${DEFAULT-VALUE}).")
  Duration warmup;

  @Option(
      names = "--max-concurrency",
      defaultValue = "8",
      description = "Serving load: streams at once (default: ${DEFAULT-VALUE}).")
  int concurrency;

  @Option(
      names = "--input-len",
      defaultValue = "64",
      description = "Serving load: prompt tokens (default: ${DEFAULT-VALUE}).")
  int inputLen;

  @Option(
      names = "--output-len",
      defaultValue = "64",
      description = "Serving load: output tokens (default: ${DEFAULT-VALUE}).")
  int outputLen;

  @Option(
      names = "--work-dir",
      paramLabel = "DIR",
      description = "Where the demo keeps its model and cluster (default: $ARRAKIS_HOME/.arrakis).")
  Path workDir;

  @Mixin ClusterFlags cluster;

  @Override
  public Integer call() throws Exception {
    long t0 = System.nanoTime();
    PrintWriter err = spec.commandLine().getErr();
    Path dot = workDir != null ? workDir : Home.fromEnvironment().dotDir();
    Path model = DemoModel.ensureWhole(dot.resolve("demo-whole-model"), err);
    Path state = dot.resolve("demo");
    ClusterOptions options = cluster.options(model, nodes.count, null, 0, state);
    return ScratchCluster.run(state, "arrakis demo", err, () -> run(options, model, t0));
  }

  private int run(ClusterOptions options, Path model, long t0)
      throws IOException, InterruptedException {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    err.printf(
        "starting %d expert nodes and a router (%s) ...%n", nodes.count, cluster.describe(options));
    ClusterFlags.warnIfPlaintext(options, err);
    long startedAt = System.nanoTime();
    LocalCluster c = LocalCluster.start(options);
    String url =
        c.routerHttpUrl()
            .orElseThrow(() -> new IllegalStateException("the router reports no HTTP port"));
    err.printf(
        "cluster up in %.1f s: router gRPC %s, HTTP %s; logs in %s%n",
        (System.nanoTime() - startedAt) / 1e9,
        c.routerAddress(),
        url,
        c.layout().root().resolve("logs"));
    ClientSecurity security = c.security().routerClient();
    OpenAiClient client = new OpenAiClient(url, security, duration.plus(warmup).plusMinutes(5));

    out.printf("%nPOST %s/v1/chat/completions (streamed): \"%s\"%n", url, prompt);
    out.println("(the weights are random, so the words are too; the tokens are the model's)");
    out.print("> ");
    out.flush();
    CompletionCall chat =
        client.chat(
            prompt,
            CHAT_TOKENS,
            text -> {
              out.print(text);
              out.flush();
            });
    try {
      chat.done().get(2, TimeUnit.MINUTES);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("the chat completion did not end in 2 minutes", e);
    }
    if (!chat.ok()) {
      throw new IllegalStateException("the chat completion failed: " + chat.failure());
    }
    out.printf(
        "%n(%d tokens streamed, first after %.0f ms, finish_reason %s)%n",
        chat.tokenCount(), chat.arrivals().ttftNanos() / 1e6, chat.finishReason());
    Generation local = InProcessGeneration.greedyChat(model, prompt, CHAT_TOKENS);
    if (!Arrays.equals(chat.tokenIds(), local.tokens())
        || !chat.finishReason().equals(local.finishReason().wire())) {
      throw new IllegalStateException(
          "the cluster streamed "
              + Arrays.toString(chat.tokenIds())
              + " ("
              + chat.finishReason()
              + "), the model in this process generates "
              + Arrays.toString(local.tokens())
              + " ("
              + local.finishReason().wire()
              + ")");
    }
    out.printf(
        "checked: the same %d token ids as the model generating in this process%n%n",
        local.tokens().length);
    out.flush();

    ServingLoad.Options load =
        new ServingLoad.Options(
            concurrency,
            inputLen,
            outputLen,
            warmup,
            duration,
            ArchConfig.load(model).vocabSize(),
            1);
    err.printf(
        "serving load: %d streams at once, %d prompt + %d output tokens, %.0f s warm-up + %.0f s ...%n",
        concurrency, inputLen, outputLen, warmup.toMillis() / 1e3, duration.toMillis() / 1e3);
    ManagedChannel admin = security.channelBuilder(c.routerAddress()).build();
    ServingRun run;
    try {
      run = ServingBenchmark.run("openai", url, client, load, admin, ProgressLine.stderr());
    } finally {
      admin.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    out.print(ServingReport.text(run));
    out.flush();
    err.printf("demo done in %.0f s%n", (System.nanoTime() - t0) / 1e9);
    if (run.result().requests() == 0 || run.result().failed() > 0) {
      throw new IllegalStateException(
          run.result().failed() + " requests failed: " + run.result().failures());
    }
    return 0;
  }
}
