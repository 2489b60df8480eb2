package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.ClusterException;
import io.arrakis.model.cli.CliErrors;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code ./arrakis demo|up|status|down|loadtest|placement|bench|simulate}: the local cluster, the
 * load tester, placement planning and rollout, benchmarks and the simulator. The launcher passes
 * the command name as the first argument.
 */
@Command(
    name = "arrakis",
    mixinStandardHelpOptions = true,
    description =
        "Run a local Arrakis cluster, drive load against a router, plan placements, simulate larger clusters.",
    subcommands = {
      DemoCommand.class,
      UpCommand.class,
      StatusCommand.class,
      DownCommand.class,
      LoadtestCommand.class,
      PlacementCommand.class,
      BenchCommand.class,
      SimulateCommand.class
    })
public final class ArrakisCli implements Runnable {
  /** Exit code of a command stopped by Ctrl-C or an interrupt, as shells report SIGINT. */
  static final int INTERRUPTED = 130;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(),
        "missing command: demo, up, status, down, loadtest, placement, bench or simulate");
  }

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  public static int execute(String... args) {
    // the charset System.out and System.err write in (JDK 17): UTF-8 as the launcher starts it
    Charset console = Charset.defaultCharset();
    return execute(
        new PrintWriter(System.out, true, console),
        new PrintWriter(System.err, true, console),
        args);
  }

  /**
   * Runs a command line; every error is one line {@code error: …} (plus a log tail where one
   * explains it), exit 1.
   */
  public static int execute(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cli = new CommandLine(new ArrakisCli());
    // these own a scratch cluster like demo, so they live in this package, under placement and
    // bench
    cli.getSubcommands().get("placement").addSubcommand(new CompareCommand());
    cli.getSubcommands().get("bench").addSubcommand(new BenchClusterCommand());
    cli.getSubcommands().get("bench").addSubcommand(new BenchServeCommand());
    cli.setOut(out).setErr(err);
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          if (e instanceof InterruptedException) {
            cmd.getErr().println("error: interrupted");
            return INTERRUPTED;
          }
          cmd.getErr().println("error: " + CliErrors.oneLine(e));
          if (e instanceof ClusterException c && !c.detail().isEmpty()) {
            cmd.getErr().println(c.detail());
          }
          return 1;
        });
    cli.setParameterExceptionHandler(
        (e, a) -> {
          e.getCommandLine()
              .getErr()
              .println(
                  "error: "
                      + CliErrors.oneLine(e)
                      + " (see '"
                      + e.getCommandLine().getCommandSpec().qualifiedName()
                      + " --help')");
          return 1;
        });
    return cli.execute(args);
  }
}
