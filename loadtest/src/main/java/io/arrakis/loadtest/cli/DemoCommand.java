package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.load.ReferenceCheck;
import io.arrakis.loadtest.report.TextReport;
import io.arrakis.security.ClientSecurity;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis demo}: a demo model (made once), a local cluster of its own, closed-loop load with
 * a progress line, a check against the in-process reference, a report; the cluster is stopped
 * however the demo ends, Ctrl-C included.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description =
        "Generate a demo model (once), start a local cluster, drive load for a while, check answers "
            + "against the in-process reference, report throughput, latency and load per node, stop the cluster. "
            + "Load defaults: --duration 20s --warmup 3s --concurrency 16 --tokens 16.")
final class DemoCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--nodes",
      paramLabel = "N",
      defaultValue = "4",
      description = "Expert nodes (default: ${DEFAULT-VALUE}).")
  int nodes;

  @Mixin ClusterFlags cluster;

  @Mixin LoadFlags load;

  @Override
  public Integer call() throws Exception {
    long t0 = System.nanoTime();
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Home home = Home.fromEnvironment();
    Path model = DemoModel.ensure(home.demoModel(), err);
    ClusterOptions options = cluster.options(model, nodes, null, 0, home.demoState());
    LoadOptions loadOptions =
        load.options("127.0.0.1:0", null, Duration.ofSeconds(20), Duration.ofSeconds(3), 16, "16");
    return ScratchCluster.run(
        home.demoState(),
        "arrakis demo",
        err,
        () -> run(options, loadOptions, model, out, err, t0));
  }

  private int run(
      ClusterOptions options,
      LoadOptions loadOptions,
      Path model,
      PrintWriter out,
      PrintWriter err,
      long t0)
      throws IOException, InterruptedException {
    err.printf(
        "starting %d expert nodes and a router (%s) ...%n", nodes, cluster.describe(options));
    ClusterFlags.warnIfPlaintext(options, err);
    long startedAt = System.nanoTime();
    LocalCluster c = LocalCluster.start(options);
    err.printf(
        "cluster up in %.1f s: router %s; logs in %s%n",
        (System.nanoTime() - startedAt) / 1e9,
        c.routerAddress(),
        c.layout().root().resolve("logs"));
    ClientSecurity security = c.security().routerClient();
    float[] bias = InputBias.read(model);
    LoadResult result =
        new ClosedLoopDriver(loadOptions.withTarget(c.routerAddress(), security), bias)
            .run(ProgressLine.stderr());
    out.println();
    out.print(TextReport.render(result));
    ReferenceCheck.Result check =
        ScratchCluster.check(c.routerAddress(), security, model, bias, out);
    int code = Verdict.check(result);
    if (!check.passed()) {
      throw new IllegalStateException("the cluster's answers differ from the in-process reference");
    }
    err.printf("demo done in %.0f s%n", (System.nanoTime() - t0) / 1e9);
    return code;
  }
}
