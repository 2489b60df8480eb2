package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterState;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Member;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/** Finds the cluster a state folder records and names it for messages. */
final class RunningClusters {
  static final Duration STOP_GRACE = Duration.ofSeconds(15);

  private RunningClusters() {}

  /** The recorded cluster if any of its processes still runs. */
  static Optional<LocalCluster> running(Path stateDir) throws IOException {
    return LocalCluster.attach(stateDir, STOP_GRACE).filter(LocalCluster::anyAlive);
  }

  /** "router pid 123 on 127.0.0.1:50051 and 3 expert nodes (state /x)". */
  static String describe(LocalCluster c) {
    ClusterState s = c.state();
    Member r = s.router();
    String router =
        r == null
            ? "no router yet"
            : "router pid " + r.process().pid() + (r.port() > 0 ? " on " + r.address() : "");
    return router
        + " and "
        + s.experts().size()
        + " expert node"
        + (s.experts().size() == 1 ? "" : "s")
        + " (state "
        + c.layout().root()
        + ")";
  }
}
