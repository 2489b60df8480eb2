package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.ProgressLine;
import io.arrakis.loadtest.report.JsonReport;
import io.arrakis.loadtest.report.TextReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code arrakis loadtest}: closed-loop load against a router, with a report. */
@Command(name = "loadtest", mixinStandardHelpOptions = true,
    description = "Drive closed-loop load (N concurrent callers) against a router and report throughput, latency "
        + "and load per expert node. The target defaults to the local cluster's router. "
        + "Defaults: --duration 30s --warmup 2s --concurrency 8 --tokens 16.")
final class LoadtestCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--target", paramLabel = "HOST:PORT", description = "Router HOST:PORT (default: the router of 'arrakis up').")
  String target;

  @Option(names = "--model", paramLabel = "DIR", description = "Model directory, for inputs that follow its routing skew "
      + "(default: the local cluster's model when --target is its router).")
  Path model;

  @Option(names = "--json", paramLabel = "FILE", description = "Also write the report as JSON to this file.")
  Path json;

  @Option(names = "--state-dir", paramLabel = "DIR", description = "State folder of the local cluster (default: $ARRAKIS_HOME/.arrakis/cluster).")
  Path stateDir;

  @Mixin LoadFlags load;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Optional<LocalCluster> local = RunningClusters.running(stateDir != null ? stateDir : Home.fromEnvironment().clusterState())
        .filter(c -> c.state().router() != null && c.routerPort() > 0);
    String to = target;
    if (to == null) {
      to = local.map(LocalCluster::routerAddress).orElseThrow(() ->
          new IllegalArgumentException("no --target given and no local cluster is running (start one with 'arrakis up')"));
    }
    Path modelDir = model;
    if (modelDir == null && local.isPresent() && local.get().routerAddress().equals(to)) {
      modelDir = local.get().state().model();
    }
    LoadOptions options = load.options(to, Duration.ofSeconds(30), Duration.ofSeconds(2), 8, "16");
    float[] bias = modelDir == null ? null : InputBias.read(modelDir);
    LoadResult result = new ClosedLoopDriver(options, bias).run(ProgressLine.stderr());
    out.print(TextReport.render(result));
    out.flush();
    if (json != null) {
      JsonReport.write(result, json);
      err.println("wrote " + json);
    }
    return Verdict.check(result);
  }
}
