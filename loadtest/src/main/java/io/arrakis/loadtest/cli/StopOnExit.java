package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.model.cli.CliErrors;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.nio.file.Path;
import java.util.Optional;

/**
 * While armed, a JVM exit (Ctrl-C, SIGTERM) stops the cluster of a state folder: a signal sent to
 * this process alone (SIGTERM from {@code kill}) never reaches the node processes, and a command
 * that leaves must not leave them behind unless it means to (as {@code up} does once the cluster is
 * up). Ctrl-C reaches the nodes started by this command too (they share its process group); they
 * stop on their own then, and this stops what is left. Closing disarms it.
 */
final class StopOnExit implements AutoCloseable {
  private final Thread hook;

  StopOnExit(Path stateDir, String what) {
    this.hook =
        new Thread(
            () ->
                stopQuietly(
                    stateDir, what, new PrintWriter(System.err, true, Charset.defaultCharset())),
            "stop-on-exit");
    Runtime.getRuntime().addShutdownHook(hook);
  }

  @Override
  public void close() {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // the JVM is exiting: the hook runs (or ran) anyway
    }
  }

  /**
   * Stops the cluster recorded in {@code stateDir}, if any; never throws, as it runs on the way
   * out.
   */
  static void stopQuietly(Path stateDir, String what, PrintWriter err) {
    try {
      Optional<LocalCluster> c = LocalCluster.attach(stateDir, RunningClusters.STOP_GRACE);
      if (c.isPresent()) {
        boolean alive = c.get().anyAlive();
        if (alive) {
          err.println("stopping the " + what + " ...");
        }
        c.get().stop();
        if (alive) {
          err.println("stopped the " + what);
        }
      }
    } catch (IOException | RuntimeException e) {
      err.println(
          "error: could not stop the " + what + " in " + stateDir + ": " + CliErrors.oneLine(e));
    }
  }
}
