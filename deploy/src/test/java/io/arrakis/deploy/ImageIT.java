package io.arrakis.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.security.ClientSecurity;
import io.arrakis.security.cli.CertsMain;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Checks the image tar that Jib built (from scratch: jlink'd JRE, glibc files, the application)
 * really starts, without a container engine: its layers are unpacked into a directory and its entry
 * point runs there, as the image's user, with nothing of the host's file system visible.
 *
 * <ul>
 *   <li>as root: under {@code chroot --userspec=UID:GID} (what CI does);
 *   <li>otherwise under {@code unshare -r chroot}, where user namespaces are allowed;
 *   <li>otherwise through the unpacked dynamic loader with the unpacked libraries and paths
 *       rewritten into the directory (still only the image's glibc and JRE).
 * </ul>
 *
 * {@code /proc} is not mounted in the chroot, so the loader cannot resolve {@code $ORIGIN} from
 * {@code /proc/self/exe}; {@code LD_ORIGIN_PATH} gives it the java binary's directory instead.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ImageIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long TIMEOUT_S = 120;

  private static Path rootfs;
  private static List<String> entrypoint;
  private static Map<String, String> env;
  private static String user;
  private static Mode mode;

  enum Mode {
    CHROOT,
    UNSHARE_CHROOT,
    LOADER
  }

  @BeforeAll
  static void unpack() throws Exception {
    Path tar = Path.of(System.getProperty("arrakis.image.tar", "target/arrakis-image.tar"));
    assertThat(tar).as("image tar (built by jib:buildTar in pre-integration-test)").isRegularFile();
    System.out.printf("image %s: %.1f MB%n", tar, Files.size(tar) / 1e6);

    Path work = Path.of("target", "image-check").toAbsolutePath();
    deleteTree(work);
    Path archive = Files.createDirectories(work.resolve("archive"));
    rootfs = Files.createDirectories(work.resolve("rootfs"));
    long t0 = System.nanoTime();
    run(List.of("tar", "-xf", tar.toString(), "-C", archive.toString()), Map.of())
        .assertOk("unpacking the image tar");
    JsonNode manifest = JSON.readTree(archive.resolve("manifest.json").toFile()).get(0);
    JsonNode config =
        JSON.readTree(archive.resolve(manifest.get("Config").asText()).toFile()).get("config");
    for (JsonNode layer : manifest.get("Layers")) {
      run(
              List.of(
                  "tar",
                  "--warning=no-unknown-keyword",
                  "-xzpf",
                  archive.resolve(layer.asText()).toString(),
                  "-C",
                  rootfs.toString()),
              Map.of())
          .assertOk("unpacking layer " + layer.asText());
    }
    System.out.printf(
        "unpacked %d layers in %d ms%n",
        manifest.get("Layers").size(), (System.nanoTime() - t0) / 1_000_000);

    entrypoint = new ArrayList<>();
    config.get("Entrypoint").forEach(a -> entrypoint.add(a.asText()));
    env = new LinkedHashMap<>();
    config
        .path("Env")
        .forEach(
            e -> {
              String[] kv = e.asText().split("=", 2);
              env.put(kv[0], kv[1]);
            });
    user = config.path("User").asText("");
    // -Darrakis.image.run-mode=LOADER (or UNSHARE_CHROOT) tries a fallback where chroot would do
    String forced = System.getProperty("arrakis.image.run-mode", "");
    mode = forced.isBlank() ? pickMode() : Mode.valueOf(forced);
    System.out.println("entrypoint " + entrypoint + ", user " + user + ", run mode " + mode);
  }

  @Test
  @Order(1)
  void imageHoldsOnlyWhatItNeeds() {
    assertThat(entrypoint)
        .startsWith("/opt/java/bin/java")
        .contains("io.arrakis.deploy.ArrakisMain");
    assertThat(user).as("image user").isEqualTo("65532:65532");
    assertThat(rootfs.resolve("opt/java/bin/java")).isExecutable();
    assertThat(rootfs.resolve("lib64/ld-linux-x86-64.so.2")).isExecutable();
    assertThat(rootfs.resolve("lib/x86_64-linux-gnu/libc.so.6")).isRegularFile();
    assertThat(rootfs.resolve("lib/x86_64-linux-gnu/libstdc++.so.6"))
        .as("ND4J's natives need libstdc++")
        .isRegularFile();
    assertThat(rootfs.resolve("bin")).as("no shell or tools in the image").doesNotExist();
    assertThat(rootfs.resolve("tmp")).isDirectory();
  }

  @Test
  @Order(2)
  void dispatcherAndRouterHelp() throws Exception {
    Result usage = runImage(List.of());
    usage.assertOk("arrakis (no arguments)");
    assertThat(usage.out).contains("Usage: arrakis COMMAND").contains("router").contains("expert");

    Result router = runImage(List.of("router", "--help"));
    router.assertOk("arrakis router --help");
    assertThat(router.out)
        .contains("Usage: arrakis router")
        .contains("--placement")
        .contains("--metrics-port");
    System.out.println(router.out);

    Result bad = runImage(List.of("no-such-command"));
    assertThat(bad.exit).as("unknown command exit code").isEqualTo(2);
    assertThat(bad.err).contains("unknown command 'no-such-command'");
  }

  @Test
  @Order(3)
  void expertHelp() throws Exception {
    Result expert = runImage(List.of("expert", "--help"));
    expert.assertOk("arrakis expert --help");
    assertThat(expert.out)
        .contains("Usage: arrakis expert")
        .contains("--placement")
        .contains("--node-id");
  }

  @Test
  @Order(4)
  void modelGenerate() throws Exception {
    Result gen =
        runImage(
            List.of(
                "model",
                "generate",
                "--out",
                "/tmp/model",
                "--layers",
                "1",
                "--experts",
                "4",
                "--hidden",
                "32",
                "--ffn",
                "16"));
    gen.assertOk("arrakis model generate");
    assertThat(rootfs.resolve("tmp/model/config.json")).isRegularFile();
  }

  /**
   * The nodes start in the image with the arguments the Kubernetes manifests give them (only the
   * ports moved to free ones, the model and pod name filled in, and the router's --kubernetes
   * replaced by the placement file the ConfigMap holds there), with the credentials of {@code
   * arrakis certs --kubernetes} where the Secrets are mounted, say SERVING on grpc.health.v1 on the
   * plaintext health port as the kubelet's probes ask, and answer a Forward call over TLS with the
   * public token end to end (the router calling the expert node with mutual TLS): ND4J's native
   * libraries load and compute (gate on the router, expert GEMMs on the node) against the image's
   * glibc.
   */
  @Test
  @Order(5)
  void nodesStartWithTheManifestsArgumentsAndServe() throws Exception {
    assertThat(rootfs.resolve("tmp/model/config.json"))
        .as("model from the previous test")
        .isRegularFile();
    Container expert = container(StatefulSet.class, "kubernetes/base/expert.yaml");
    Container router = container(Deployment.class, "kubernetes/base/router.yaml");
    int expertPort = freePort();
    int expertMetrics = freePort();
    int routerPort = freePort();
    int routerMetrics = freePort();
    Path publicToken = secrets();
    // the placement the ConfigMap mount would provide, for a one-node cluster on loopback
    Path placement = rootfs.resolve("etc/arrakis/placement/placement.json");
    Files.createDirectories(placement.getParent());
    StringBuilder experts = new StringBuilder();
    for (int e = 0; e < 4; e++) {
      experts
          .append(e == 0 ? "" : ", ")
          .append("{\"layer\": 0, \"expert\": ")
          .append(e)
          .append("}");
    }
    Files.writeString(
        placement,
        "{\"version\": 1, \"nodes\": [{\"id\": \"arrakis-expert-0\", \"address\": \"127.0.0.1:"
            + expertPort
            + "\", \"experts\": ["
            + experts
            + "]}]}\n");

    List<Process> nodes = new ArrayList<>();
    Path logs = rootfs.getParent();
    try {
      // both at once, as on Kubernetes: the router keeps the node out of rotation until it is
      // SERVING
      int expertHealth = freePort();
      int routerHealth = freePort();
      nodes.add(
          startImage(
              args(expert, "arrakis-expert-0", expertPort, expertMetrics, expertHealth),
              logs.resolve("expert.log")));
      nodes.add(
          startImage(
              args(router, "arrakis-router-0", routerPort, routerMetrics, routerHealth),
              logs.resolve("router.log")));
      awaitServing(expertHealth, logs.resolve("expert.log"));
      awaitServing(routerHealth, logs.resolve("router.log"));

      ManagedChannel channel =
          new ClientSecurity(rootfs.resolve("etc/arrakis/tls/ca.crt"), null, null, publicToken)
              .channelBuilder("127.0.0.1:" + routerPort)
              .build();
      try {
        int tokens = 5;
        int hidden = 32;
        ByteBuffer x = ByteBuffer.allocate(tokens * hidden * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < tokens * hidden; i++) {
          x.putFloat((float) Math.cos(i * 0.21));
        }
        ForwardRequest request =
            ForwardRequest.newBuilder()
                .setRequestId("image-it")
                .setLayer(0)
                .setHiddenStates(
                    Tensor.newBuilder()
                        .setDtype(DType.FLOAT32)
                        .addShape(tokens)
                        .addShape(hidden)
                        .setData(ByteString.copyFrom(x.array())))
                .build();
        ForwardResponse out = null;
        // the router takes the expert node into rotation after its first health check
        for (int attempt = 1; out == null; attempt++) {
          try {
            out =
                InferenceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, TimeUnit.SECONDS)
                    .forward(request);
          } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Code.UNAVAILABLE || attempt == 20) {
              throw new AssertionError(
                  "Forward through the router failed: "
                      + e.getStatus()
                      + "; router log:\n"
                      + Files.readString(logs.resolve("router.log")),
                  e);
            }
            Thread.sleep(500);
          }
        }
        assertThat(out.getOutput().getShapeList()).containsExactly((long) tokens, (long) hidden);
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      String metrics = fetch("http://127.0.0.1:" + routerMetrics + "/metrics");
      assertThat(metrics)
          .contains("arrakis_router_request_latency_seconds_count")
          .contains("arrakis_router_node_tokens_total");
      assertThat(fetch("http://127.0.0.1:" + expertMetrics + "/metrics"))
          .contains("arrakis_expert_batches_total");
    } finally {
      for (Process p : nodes) {
        p.destroy();
      }
      for (Process p : nodes) {
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
          p.destroyForcibly();
        }
      }
    }
  }

  private static <T extends HasMetadata> Container container(Class<T> type, String file)
      throws IOException {
    for (HasMetadata h : ManifestsTest.objects(Files.readString(Path.of(file)))) {
      if (type.isInstance(h)) {
        return h instanceof Deployment d
            ? d.getSpec().getTemplate().getSpec().getContainers().get(0)
            : ((StatefulSet) h).getSpec().getTemplate().getSpec().getContainers().get(0);
      }
    }
    throw new AssertionError("no " + type.getSimpleName() + " in " + file);
  }

  /**
   * What the manifests' Secrets hold, made as deploy/README.md says, where the pods mount them: the
   * TLS files of both roles in /etc/arrakis/tls (each pod mounts only its own; one file system
   * holds both here), the tokens in /etc/arrakis/public-token and /etc/arrakis/admin-token.
   * Readable by the image's user, as Secret volumes are. Returns the public token's file.
   */
  private static Path secrets() throws Exception {
    Path made = rootfs.getParent().resolve("secrets");
    deleteTree(made);
    assertThat(CertsMain.execute("--kubernetes", "--out", made.toString())).isZero();
    Map<String, String> files = new LinkedHashMap<>();
    for (String f : List.of("ca.crt", "router.crt", "router.key", "expert.crt", "expert.key")) {
      files.put(f, "etc/arrakis/tls/" + f);
    }
    files.put("public-token", "etc/arrakis/public-token/token");
    files.put("admin-token", "etc/arrakis/admin-token/token");
    for (Map.Entry<String, String> f : files.entrySet()) {
      Path to = rootfs.resolve(f.getValue());
      Files.createDirectories(to.getParent());
      Files.copy(made.resolve(f.getKey()), to, StandardCopyOption.REPLACE_EXISTING);
      Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("r--r--r--"));
    }
    return rootfs.resolve("etc/arrakis/public-token/token");
  }

  /** The container's args with the model, pod name and (free) ports filled in. */
  private static List<String> args(
      Container c, String podName, int port, int metricsPort, int healthPort) {
    List<String> out = new ArrayList<>();
    UnaryOperator<String> fill =
        a -> a.replace("$(ARRAKIS_MODEL_DIR)", "/tmp/model").replace("$(POD_NAME)", podName);
    List<String> in = c.getArgs();
    for (int i = 0; i < in.size(); i++) {
      String a = fill.apply(in.get(i));
      if (a.equals("--kubernetes")) {
        // outside Kubernetes the router reads the placement the ConfigMap would hold from its file
        out.addAll(List.of("--placement", "/etc/arrakis/placement/placement.json"));
        continue;
      }
      out.add(a);
      Map<String, Integer> ports =
          Map.of("--port", port, "--metrics-port", metricsPort, "--health-port", healthPort);
      if (ports.containsKey(a) && i + 1 < in.size()) {
        out.add(String.valueOf(ports.get(a)));
        i++;
      }
    }
    assertThat(String.join(" ", out)).doesNotContain("$(");
    return out;
  }

  private static void awaitServing(int port, Path log) throws Exception {
    ManagedChannel channel =
        ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
      while (System.nanoTime() < deadline) {
        try {
          HealthCheckResponse r =
              HealthGrpc.newBlockingStub(channel)
                  .withDeadlineAfter(2, TimeUnit.SECONDS)
                  .check(HealthCheckRequest.getDefaultInstance());
          if (r.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
            return;
          }
        } catch (RuntimeException notYet) {
          // not listening yet
        }
        Thread.sleep(250);
      }
      throw new AssertionError(
          "no SERVING on port "
              + port
              + " within "
              + TIMEOUT_S
              + " s; log:\n"
              + (Files.exists(log) ? Files.readString(log) : "(none)"));
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static String fetch(String url) throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                BodyHandlers.ofString());
    assertThat(r.statusCode()).as("GET %s", url).isEqualTo(200);
    return r.body();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  // ---------------------------------------------------------------------------------------------

  private static Mode pickMode() throws Exception {
    boolean root = "0".equals(run(List.of("id", "-u"), Map.of()).out.strip());
    if (root) {
      return Mode.CHROOT;
    }
    Result probe =
        run(
            List.of("unshare", "-r", "chroot", rootfs.toString(), "/opt/java/bin/java", "-version"),
            Map.of("LD_ORIGIN_PATH", "/opt/java/bin"));
    return probe.exit == 0 ? Mode.UNSHARE_CHROOT : Mode.LOADER;
  }

  /** Runs the image's entry point with {@code args}, as {@code docker run IMAGE args} would. */
  private static Result runImage(List<String> args) throws Exception {
    Map<String, String> environment = new LinkedHashMap<>();
    List<String> cmd = imageCommand(args, environment);
    long t0 = System.nanoTime();
    Result result = run(cmd, environment);
    System.out.printf(
        "%s: exit %d in %d ms%n",
        String.join(" ", args), result.exit, (System.nanoTime() - t0) / 1_000_000);
    return result;
  }

  /** Starts the image's entry point with {@code args} in the background, output to {@code log}. */
  private static Process startImage(List<String> args, Path log) throws Exception {
    Map<String, String> environment = new LinkedHashMap<>();
    List<String> cmd = imageCommand(args, environment);
    System.out.println("starting " + String.join(" ", args));
    ProcessBuilder pb =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().clear();
    pb.environment().putAll(environment);
    return pb.start();
  }

  private static List<String> imageCommand(List<String> args, Map<String, String> environment)
      throws IOException {
    environment.putAll(env);
    List<String> cmd = new ArrayList<>();
    switch (mode) {
      case CHROOT, UNSHARE_CHROOT -> {
        environment.put("LD_ORIGIN_PATH", "/opt/java/bin");
        if (mode == Mode.CHROOT) {
          cmd.addAll(List.of("chroot", "--userspec=" + user, rootfs.toString()));
        } else {
          cmd.addAll(List.of("unshare", "-r", "chroot", rootfs.toString()));
        }
        cmd.addAll(entrypoint);
      }
      case LOADER -> {
        String r = rootfs.toString();
        cmd.addAll(
            List.of(
                r + "/lib64/ld-linux-x86-64.so.2",
                "--library-path",
                r
                    + "/lib/x86_64-linux-gnu:"
                    + r
                    + "/usr/lib/x86_64-linux-gnu:"
                    + r
                    + "/opt/java/lib"));
        for (String a : entrypoint) {
          if (a.startsWith("@/app/")) {
            a =
                Files.readString(rootfs.resolve(a.substring(2)))
                    .strip()
                    .replace("/app/", r + "/app/");
          } else if (a.startsWith("/")) {
            a = r + a;
          } else if (a.startsWith("-D") && a.contains("=/")) {
            a = a.replace("=/", "=" + r + "/");
          }
          cmd.add(a);
        }
        args =
            args.stream()
                .map(a -> a.startsWith("/tmp/") || a.startsWith("/etc/") ? r + a : a)
                .toList();
      }
    }
    cmd.addAll(args);
    return cmd;
  }

  private record Result(int exit, String out, String err) {
    void assertOk(String what) {
      assertThat(exit).as("%s exit code; stdout:%n%s%nstderr:%n%s", what, out, err).isZero();
    }
  }

  private static Result run(List<String> cmd, Map<String, String> environment) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    if (!environment.isEmpty()) {
      pb.environment().clear();
      pb.environment().putAll(environment);
    }
    Path out = Files.createTempFile("image-it", ".out");
    Path err = Files.createTempFile("image-it", ".err");
    try {
      Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
      if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError(cmd + " did not finish in " + TIMEOUT_S + " s");
      }
      return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
