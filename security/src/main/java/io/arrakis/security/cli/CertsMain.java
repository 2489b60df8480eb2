package io.arrakis.security.cli;

import io.arrakis.security.LocalCertificateAuthority;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis certs}: a local CA and certificates for routers, expert nodes and clients. */
@Command(name = "arrakis certs", mixinStandardHelpOptions = true,
    description = "Create a cluster CA and certificates (router, expert, client) for TLS and mutual TLS between nodes.")
public final class CertsMain implements Callable<Integer> {
  @Option(names = "--out", required = true, description = "Directory to write ca.crt/key and NAME.crt/key into.")
  Path out;

  @Option(names = "--names", split = ",", defaultValue = "router,expert,client",
      description = "Certificates to issue (default: ${DEFAULT-VALUE}).")
  List<String> names;

  @Option(names = "--host", split = ",", defaultValue = "localhost,127.0.0.1",
      description = "DNS names and IP addresses the certificates are valid for (default: ${DEFAULT-VALUE}).")
  List<String> hosts;

  @Option(names = "--days", defaultValue = "365", description = "Validity in days (default: ${DEFAULT-VALUE}).")
  int days;

  @Option(names = "--force", description = "Overwrite an existing CA in --out.")
  boolean force;

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  public static int execute(String... args) {
    CommandLine cli = new CommandLine(new CertsMain());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      cmd.getErr().println("error: " + e.getMessage());
      return 1;
    });
    return cli.execute(args);
  }

  @Override
  public Integer call() throws Exception {
    if (Files.exists(out.resolve("ca.key")) && !force) {
      throw new IllegalArgumentException(out.resolve("ca.key") + " exists; use --force to replace the CA");
    }
    LocalCertificateAuthority.createFiles(out, names, hosts, Duration.ofDays(days));
    System.out.println("wrote CA and " + names.size() + " certificates (" + String.join(", ", names) + ") to " + out
        + ", valid for " + String.join(", ", hosts));
    return 0;
  }
}
