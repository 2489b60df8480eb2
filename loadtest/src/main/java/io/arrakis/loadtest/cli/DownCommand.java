package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Stopper;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis down}: stops the local cluster; running it again is harmless. */
@Command(
    name = "down",
    mixinStandardHelpOptions = true,
    description =
        "Stop the local cluster: SIGTERM to every process, SIGKILL to those still running after the grace period.")
final class DownCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "State folder (default: $ARRAKIS_HOME/.arrakis/cluster).")
  Path stateDir;

  @Option(
      names = "--grace",
      paramLabel = "DURATION",
      defaultValue = "15s",
      converter = DurationConverter.class,
      description = "Time to stop after SIGTERM before SIGKILL (default: ${DEFAULT-VALUE}).")
  Duration grace;

  @Override
  public Integer call() throws Exception {
    Path dir = stateDir != null ? stateDir : Home.fromEnvironment().clusterState();
    PrintWriter out = spec.commandLine().getOut();
    Optional<LocalCluster> cluster = LocalCluster.attach(dir, grace);
    if (cluster.isEmpty()) {
      out.println(
          "no local cluster is running (state folder " + dir.toAbsolutePath().normalize() + ")");
      return 0;
    }
    int recorded = cluster.get().state().members().size();
    Stopper.Result r = cluster.get().stop();
    out.printf(
        "stopped %d of %d processes (%d on SIGTERM, %d needed SIGKILL; %d had already exited)%n",
        r.total(), recorded, r.terminated(), r.killed(), recorded - r.total());
    return 0;
  }
}
