package io.arrakis.deploy;

import io.arrakis.engine.cli.ModelCli;
import io.arrakis.expert.cli.ExpertNodeMain;
import io.arrakis.router.cli.RouterMain;
import io.arrakis.security.cli.CertsMain;
import java.io.PrintStream;
import java.util.Arrays;

/**
 * The container image's entry point: {@code arrakis router …}, {@code arrakis expert …} and {@code
 * arrakis model …} and {@code arrakis certs …}, as the {@code ./arrakis} launcher runs them from a
 * checkout. The image has no shell, so this class, not a script, picks the main class from the
 * first argument.
 */
public final class ArrakisMain {
  private ArrakisMain() {}

  public static void main(String[] args) {
    if (args.length == 0
        || args[0].equals("-h")
        || args[0].equals("--help")
        || args[0].equals("help")) {
      usage(System.out);
      return;
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    switch (args[0]) {
      case "router" -> RouterMain.main(rest);
      case "expert" -> ExpertNodeMain.main(rest);
      case "model" -> ModelCli.main(rest);
      case "certs" -> CertsMain.main(rest);
      default -> {
        System.err.println("arrakis: unknown command '" + args[0] + "'");
        usage(System.err);
        System.exit(2);
      }
    }
  }

  static void usage(PrintStream out) {
    out.println(
        """
        Usage: arrakis COMMAND [OPTIONS]   (every command takes --help)

          router    run a router node (public Inference API, gates and fans out to expert nodes)
          expert    run an expert node (holds some experts, computes batches over gRPC)
          model     generate a synthetic model, or run one MoE layer in process
          certs     create a cluster CA and node certificates for TLS / mutual TLS

        Environment
          JAVA_TOOL_OPTIONS   extra JVM options (e.g. -XX:MaxRAMPercentage=40)
          OMP_NUM_THREADS     native threads per ND4J op (image default 1)
          ARRAKIS_LOG_LEVEL   root log level (default INFO)
          ARRAKIS_*           node settings, see each module's reference.conf""");
  }
}
