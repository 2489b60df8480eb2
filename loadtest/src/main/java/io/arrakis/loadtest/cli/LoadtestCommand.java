package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.OpenLoopDriver;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.report.HtmlReport;
import io.arrakis.loadtest.report.JsonReport;
import io.arrakis.loadtest.report.TextReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code arrakis loadtest}: closed- or open-loop load against a router, with a report. */
@Command(
    name = "loadtest",
    mixinStandardHelpOptions = true,
    subcommands = ServeLoadCommand.class,
    description =
        "Drive load against a router and report throughput, latency and load per expert node: closed loop "
            + "(--concurrency N callers) or open loop (--rate R: Poisson arrivals, latency from each call's scheduled "
            + "time). The target defaults to the local cluster's router, called with TLS and token as its state "
            + "file says. 'arrakis loadtest serve' is the serving load test (OpenAI HTTP API or Generate). "
            + "Defaults: --duration 30s --warmup 2s --concurrency 8 --tokens 16.")
final class LoadtestCommand implements Callable<Integer> {
  /** Past this one sender thread cannot keep the schedule on any machine this runs on. */
  private static final double MAX_RATE = 100_000;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description =
          "Model directory, for inputs that follow its routing skew "
              + "(default: the local cluster's model when --target is its router).")
  Path model;

  @Mixin ReportFlags reports;

  @Option(
      names = "--rate",
      paramLabel = "R",
      description =
          "Open loop: R requests per second on average (Poisson), instead of --concurrency.")
  Double rate;

  @Mixin TargetFlags router;

  @Mixin LoadFlags load;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (rate != null && load.concurrency != null) {
      throw new IllegalArgumentException(
          "give --rate (open loop) or --concurrency (closed loop), not both");
    }
    if (rate != null && !(rate > 0 && rate <= MAX_RATE)) {
      throw new IllegalArgumentException(
          "--rate must be between 0 and " + (long) MAX_RATE + " requests per second, got " + rate);
    }
    TargetFlags.Target to = router.resolve();
    Path modelDir = model;
    if (modelDir == null && to.localCluster() != null) {
      modelDir = to.localCluster().model();
    }
    LoadOptions options =
        load.options(
            to.address(), to.security(), Duration.ofSeconds(30), Duration.ofSeconds(2), 8, "16");
    float[] bias = modelDir == null ? null : InputBias.read(modelDir);
    LoadResult result =
        rate == null
            ? new ClosedLoopDriver(options, bias).run(ProgressLine.stderr())
            : new OpenLoopDriver(options, rate, bias).run(ProgressLine.stderr());
    out.print(TextReport.render(result));
    out.flush();
    reports.write(err, p -> JsonReport.write(result, p), p -> HtmlReport.write(result, p));
    return Verdict.check(result);
  }
}
