package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.StateLayout;
import io.arrakis.loadtest.cluster.StateLock;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.load.ReferenceCheck;
import io.arrakis.loadtest.report.TextReport;
import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis demo}: a demo model (made once), a local cluster of its own, closed-loop load with
 * a progress line, a check against the in-process reference, a report; the cluster is stopped
 * however the demo ends, Ctrl-C included.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Generate a demo model (once), start a local cluster, drive load for a while, check answers "
        + "against the in-process reference, report throughput, latency and load per node, stop the cluster. "
        + "Load defaults: --duration 20s --warmup 3s --concurrency 16 --tokens 16.")
final class DemoCommand implements Callable<Integer> {
  private static final int CHECK_TOKENS = 8;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--nodes", paramLabel = "N", defaultValue = "4", description = "Expert nodes (default: ${DEFAULT-VALUE}).")
  int nodes;

  @Mixin ClusterFlags cluster;

  @Mixin LoadFlags load;

  @Override
  @SuppressWarnings("try") // the lock and the exit guard work by being held, unreferenced
  public Integer call() throws Exception {
    long t0 = System.nanoTime();
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Home home = Home.fromEnvironment();
    Path model = DemoModel.ensure(home.demoModel(), err);
    Path dir = home.demoState();
    ClusterOptions options = cluster.options(model, nodes, null, 0, dir);
    LoadOptions loadOptions = load.options("127.0.0.1:0", null, Duration.ofSeconds(20), Duration.ofSeconds(3), 16, "16");
    Optional<StateLock> lock = StateLock.tryAcquire(new StateLayout(dir));
    if (lock.isEmpty()) {
      throw new IllegalStateException("another 'arrakis demo' is running (state " + dir + ")");
    }
    try (StateLock held = lock.get()) {
      // the lock was free, so no demo runs: live processes here were left by a demo killed outright
      Optional<LocalCluster> left = RunningClusters.running(dir);
      if (left.isPresent()) {
        err.println("stopping what an earlier demo left running: " + RunningClusters.describe(left.get()));
        left.get().stop();
      }
      try (StopOnExit guard = new StopOnExit(dir, "demo cluster")) {
        try {
          return run(options, loadOptions, model, out, err, t0);
        } finally {
          StopOnExit.stopQuietly(dir, "demo cluster", err);
        }
      }
    }
  }

  private int run(ClusterOptions options, LoadOptions loadOptions, Path model, PrintWriter out, PrintWriter err, long t0)
      throws IOException, InterruptedException {
    err.printf("starting %d expert nodes and a router (%s) ...%n", nodes, cluster.describe(options));
    ClusterFlags.warnIfPlaintext(options, err);
    long startedAt = System.nanoTime();
    LocalCluster c = LocalCluster.start(options);
    err.printf("cluster up in %.1f s: router %s; logs in %s%n", (System.nanoTime() - startedAt) / 1e9, c.routerAddress(),
        c.layout().root().resolve("logs"));
    ClientSecurity security = c.security().routerClient();
    float[] bias = InputBias.read(model);
    LoadResult result = new ClosedLoopDriver(loadOptions.withTarget(c.routerAddress(), security), bias)
        .run(ProgressLine.stderr());
    ReferenceCheck.Result check = check(c.routerAddress(), security, model, bias);
    out.println();
    out.print(TextReport.render(result));
    out.printf(Locale.ROOT, "check       %d requests (%d tokens, every layer) against the in-process reference: %s "
            + "(max error %.1e of max |expected|, top-k ids %s)%n",
        check.requests(), check.tokens(), check.passed() ? "PASS" : "FAIL", check.maxRelativeError(),
        check.idMismatches() == 0 ? "identical" : "differ in " + check.idMismatches() + " layers");
    out.flush();
    int code = Verdict.check(result);
    if (!check.passed()) {
      throw new IllegalStateException("the cluster's answers differ from the in-process reference");
    }
    err.printf("demo done in %.0f s%n", (System.nanoTime() - t0) / 1e9);
    return code;
  }

  private ReferenceCheck.Result check(String target, ClientSecurity security, Path model, float[] bias)
      throws IOException, InterruptedException {
    ManagedChannel channel = security.channelBuilder(target).build();
    try {
      return ReferenceCheck.run(channel, model, CHECK_TOKENS, bias, 99);
    } finally {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
