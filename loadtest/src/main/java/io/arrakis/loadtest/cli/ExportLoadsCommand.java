package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.placement.LoadStatsJson;
import io.arrakis.loadtest.placement.RouterAdmin;
import io.arrakis.loadtest.report.ReportFiles;
import io.arrakis.proto.v1.LoadStats;
import io.grpc.ManagedChannel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis placement export-loads}: the router's {@code GetLoadStats} as protobuf JSON
 * ({@link LoadStatsJson}), the form {@code Loads} reads as "the router's stats export", so {@code
 * plan --loads} takes it as is.
 */
@Command(
    name = "export-loads",
    mixinStandardHelpOptions = true,
    description =
        "Write the router's observed load per expert and node (its GetLoadStats, as protobuf JSON) to a "
            + "file that 'placement plan --loads' reads.")
final class ExportLoadsCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Mixin TargetFlags router;

  @Option(
      names = "--since",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      description =
          "Only load of this last span (e.g. 5m; default: all the router keeps, its last 10 minutes).")
  Duration since;

  @Option(
      names = "--output",
      required = true,
      paramLabel = "LOADS.json",
      description = "Where to write the loads.")
  Path output;

  @Override
  public Integer call() throws Exception {
    long sinceMs = since == null ? 0 : System.currentTimeMillis() - since.toMillis();
    TargetFlags.Target target = router.resolve();
    ManagedChannel channel = RouterAdmin.connect(target.address(), target.security());
    LoadStats stats;
    try {
      stats = new RouterAdmin(channel, target.address(), target.security()).loadStats(sinceMs);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (stats.getExpertsCount() == 0) {
      throw new IllegalStateException(
          "the router at "
              + target.address()
              + " has seen no load"
              + (since == null ? "" : " in the last " + since.toSeconds() + " s")
              + ": nothing to plan from");
    }
    ReportFiles.write(output, LoadStatsJson.write(stats));
    long tokens = stats.getExpertsList().stream().mapToLong(e -> e.getTokens()).sum();
    PrintWriter out = spec.commandLine().getOut();
    out.printf(
        "wrote %s: %d experts, %d token-expert pairs, %d nodes%n",
        output, stats.getExpertsCount(), tokens, stats.getNodesCount());
    out.flush();
    return 0;
  }
}
