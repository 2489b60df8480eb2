package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.StateLayout;
import io.arrakis.loadtest.cluster.StateLock;
import io.arrakis.loadtest.load.ReferenceCheck;
import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A local cluster that a command starts for itself in its own state folder and stops however the
 * command ends, Ctrl-C included ({@code demo}, {@code placement compare}); and the check of its
 * answers against the in-process reference that such a command ends with.
 */
final class ScratchCluster {
  private static final int CHECK_TOKENS = 8;

  /** What runs while the folder is held; it starts the cluster itself. */
  interface Body {
    int run() throws IOException, InterruptedException;
  }

  private ScratchCluster() {}

  /**
   * Holds {@code dir}'s lock (one such command per folder), stops what an earlier run killed
   * outright left behind, runs {@code body} and stops the cluster it started.
   */
  @SuppressWarnings("try") // the lock and the exit guard work by being held, unreferenced
  static int run(Path dir, String command, PrintWriter err, Body body)
      throws IOException, InterruptedException {
    Optional<StateLock> lock = StateLock.tryAcquire(new StateLayout(dir));
    if (lock.isEmpty()) {
      throw new IllegalStateException("another '" + command + "' is running (state " + dir + ")");
    }
    String what = "cluster of '" + command + "'";
    try (StateLock held = lock.get()) {
      // the lock was free, so no such command runs: live processes here were left by one killed
      // outright
      Optional<LocalCluster> left = RunningClusters.running(dir);
      if (left.isPresent()) {
        err.println(
            "stopping what an earlier '"
                + command
                + "' left running: "
                + RunningClusters.describe(left.get()));
        left.get().stop();
      }
      try (StopOnExit guard = new StopOnExit(dir, what)) {
        try {
          return body.run();
        } finally {
          StopOnExit.stopQuietly(dir, what, err);
        }
      }
    }
  }

  /**
   * Checks a few requests on every layer against the in-process reference and prints the verdict.
   */
  static ReferenceCheck.Result check(
      String target, ClientSecurity security, Path model, float[] bias, PrintWriter out)
      throws IOException, InterruptedException {
    ManagedChannel channel = security.channelBuilder(target).build();
    ReferenceCheck.Result check;
    try {
      check = ReferenceCheck.run(channel, model, CHECK_TOKENS, bias, 99);
    } finally {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
    out.printf(
        Locale.ROOT,
        "check       %d requests (%d tokens, every layer) against the in-process reference: %s "
            + "(max error %.1e of max |expected|, top-k ids %s)%n",
        check.requests(),
        check.tokens(),
        check.passed() ? "PASS" : "FAIL",
        check.maxRelativeError(),
        check.idMismatches() == 0 ? "identical" : "differ in " + check.idMismatches() + " layers");
    out.flush();
    return check;
  }
}
