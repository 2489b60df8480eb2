package io.arrakis.security.cli;

import io.arrakis.security.LocalCertificateAuthority;
import io.arrakis.security.Role;
import io.arrakis.security.Tokens;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code arrakis certs}: a cluster CA and one certificate per role; with --kubernetes, all the
 * manifests' Secrets need.
 */
@Command(
    name = "arrakis certs",
    mixinStandardHelpOptions = true,
    description = {
      "Create a cluster CA and one certificate per role: router.crt (serves clients, calls expert nodes),",
      "expert.crt (serves routers only), client.crt (tools calling the public API), admin.crt (the admin Cluster",
      "service). Each names its role (spiffe://arrakis/role/NAME); expert nodes take calls from router",
      "certificates only, and routers call only servers with an expert certificate."
    })
public final class CertsMain implements Callable<Integer> {
  /**
   * What the Kubernetes manifests' Secrets are made of (deploy/kubernetes/base/kustomization.yaml).
   */
  public static final String PUBLIC_TOKEN = "public-token";

  public static final String ADMIN_TOKEN = "admin-token";

  @Option(
      names = "--out",
      required = true,
      description = "Directory to write ca.crt/key and ROLE.crt/key into.")
  Path out;

  @Option(
      names = "--host",
      split = ",",
      defaultValue = "localhost,127.0.0.1",
      description =
          "DNS names and IP addresses both server certificates (router, expert) are valid for "
              + "(default: ${DEFAULT-VALUE}).")
  List<String> hosts;

  @Option(
      names = "--router-host",
      split = ",",
      description = "More names for the router certificate only.")
  List<String> routerHosts = new ArrayList<>();

  @Option(
      names = "--expert-host",
      split = ",",
      description =
          "More names for the expert certificate only; '*.NAME' matches any one label (pod names of a headless Service).")
  List<String> expertHosts = new ArrayList<>();

  @Option(
      names = "--kubernetes",
      description =
          "For deploy/kubernetes: add the in-cluster names of the manifests' "
              + "Services (arrakis-router, *.arrakis-expert, in --namespace) and write the public and admin bearer tokens "
              + "("
              + PUBLIC_TOKEN
              + ", "
              + ADMIN_TOKEN
              + ") the manifests' Secrets are made of.")
  boolean kubernetes;

  @Option(
      names = "--namespace",
      defaultValue = "arrakis",
      description = "With --kubernetes: the namespace (default: ${DEFAULT-VALUE}).")
  String namespace;

  @Option(
      names = "--tokens",
      description =
          "Also write random bearer tokens "
              + PUBLIC_TOKEN
              + " and "
              + ADMIN_TOKEN
              + " (kept if present, unless --force).")
  boolean tokens;

  @Option(
      names = "--days",
      defaultValue = "365",
      description = "Validity in days (default: ${DEFAULT-VALUE}).")
  int days;

  @Option(names = "--force", description = "Overwrite an existing CA (and tokens) in --out.")
  boolean force;

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  public static int execute(String... args) {
    CommandLine cli = new CommandLine(new CertsMain());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("error: " + e.getMessage());
          return 1;
        });
    return cli.execute(args);
  }

  @Override
  public Integer call() throws Exception {
    if (Files.exists(out.resolve("ca.key")) && !force) {
      throw new IllegalArgumentException(
          out.resolve("ca.key") + " exists; use --force to replace the CA");
    }
    List<String> router = new ArrayList<>(hosts);
    router.addAll(routerHosts);
    List<String> expert = new ArrayList<>(hosts);
    expert.addAll(expertHosts);
    if (kubernetes) {
      router.addAll(inCluster("arrakis-router"));
      expert.addAll(inCluster("*.arrakis-expert"));
    }
    LocalCertificateAuthority.createFiles(out, router, expert, Duration.ofDays(days));
    System.out.println(
        "wrote a CA and the "
            + String.join(", ", Arrays.stream(Role.values()).map(Role::fileName).toList())
            + " certificates to "
            + out);
    System.out.println("  router valid for " + String.join(", ", router));
    System.out.println("  expert valid for " + String.join(", ", expert));
    if (kubernetes || tokens) {
      for (String name : List.of(PUBLIC_TOKEN, ADMIN_TOKEN)) {
        Path file = out.resolve(name);
        boolean kept = Files.exists(file) && !force;
        if (!kept) {
          Tokens.write(file);
        }
        System.out.println("  " + name + (kept ? " kept" : " written") + " (" + file + ")");
      }
    }
    System.out.println(
        "keep " + out.resolve("ca.key") + " secret: whoever holds it can issue any role");
    return 0;
  }

  /** {@code service} as pods of the namespace reach it: short, namespaced and fully qualified. */
  private List<String> inCluster(String service) {
    return List.of(
        service,
        service + "." + namespace,
        service + "." + namespace + ".svc",
        service + "." + namespace + ".svc.cluster.local");
  }
}
