package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.ClusterSecurity;
import io.arrakis.loadtest.cluster.ExpertRanges;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Member;
import io.arrakis.loadtest.cluster.PlacementPlan;
import io.arrakis.loadtest.cluster.StateLayout;
import io.arrakis.loadtest.cluster.StateLock;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code arrakis up}: a router and N expert nodes on 127.0.0.1, left running in the background. */
@Command(
    name = "up",
    mixinStandardHelpOptions = true,
    description =
        "Start a router and N expert nodes on 127.0.0.1 in the background; returns once all serve. "
            + "Stop them with 'arrakis down'.")
final class UpCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      required = true,
      description = "Model directory (config.json + model*.safetensors).")
  Path model;

  @Option(
      names = "--nodes",
      paramLabel = "N",
      description = "Expert nodes (required unless --placement gives them).")
  Integer nodes;

  @Option(
      names = "--placement",
      paramLabel = "FILE",
      description = "Placement JSON to start with instead of a strategy; addresses are filled in.")
  Path placement;

  @Option(
      names = "--port",
      paramLabel = "PORT",
      defaultValue = "50051",
      description = "Router gRPC port, 0 = any free port (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(
      names = "--http-port",
      paramLabel = "PORT",
      defaultValue = "8000",
      description =
          "Router's OpenAI-compatible "
              + "HTTP API port, 0 = any free port, -1 = off (default: ${DEFAULT-VALUE}).")
  int httpPort;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "State folder (default: $ARRAKIS_HOME/.arrakis/cluster).")
  Path stateDir;

  @Mixin ClusterFlags flags;

  @Override
  @SuppressWarnings("try") // the lock and the exit guard work by being held, unreferenced
  public Integer call() throws Exception {
    if (nodes == null && placement == null) {
      throw new IllegalArgumentException("give --nodes N or --placement FILE");
    }
    Path dir = stateDir != null ? stateDir : Home.fromEnvironment().clusterState();
    ClusterOptions options =
        flags.options(model, nodes, placement, port, dir).withHttpPort(httpPort);
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Optional<StateLock> lock = StateLock.tryAcquire(new StateLayout(dir));
    if (lock.isEmpty()) {
      throw new IllegalStateException("another arrakis command is starting a cluster in " + dir);
    }
    try (StateLock held = lock.get()) {
      Optional<LocalCluster> running = RunningClusters.running(dir);
      if (running.isPresent()) {
        throw new IllegalStateException(
            "a local cluster is already running: "
                + RunningClusters.describe(running.get())
                + "; stop it with 'arrakis down'");
      }
      long t0 = System.nanoTime();
      // checked before saying anything, so that a bad model or placement is the only line printed
      int planned = PlacementPlan.resolve(options).nodes().size();
      err.printf(
          "starting %d expert nodes and a router (%s) from %s ...%n",
          planned, flags.describe(options), model);
      ClusterFlags.warnIfPlaintext(options, err);
      LocalCluster cluster;
      // Ctrl-C while starting stops what started; once up, the cluster is meant to outlive this
      // command
      try (StopOnExit guard = new StopOnExit(dir, "half-started cluster")) {
        cluster = LocalCluster.start(options);
      }
      out.printf("router %s%n", cluster.routerAddress());
      cluster
          .routerHttpUrl()
          .ifPresent(
              url ->
                  out.printf(
                      "HTTP API   %s/v1 (OpenAI-compatible: /v1/completions, "
                          + "/v1/chat/completions, /v1/models)%n",
                      url));
      ClusterSecurity security = cluster.security();
      if (security.tls() || security.authTokenFile() != null) {
        out.printf(
            "security   %s; loadtest, status and placement against this cluster use it%n",
            security.describe());
      } else {
        out.printf(
            "admin      the router's Cluster service takes the token in %s; placement and loadtest use it%n",
            security.adminTokenFile());
      }
      for (Member m : cluster.state().experts()) {
        out.printf(
            "  %-10s pid %-7d %s  experts %s%n",
            m.id(), m.process().pid(), m.address(), ExpertRanges.format(m.experts()));
      }
      out.printf(
          "local cluster up in %.1f s; logs in %s; stop it with 'arrakis down'%n",
          (System.nanoTime() - t0) / 1e9, cluster.layout().root().resolve("logs"));
      return 0;
    }
  }
}
