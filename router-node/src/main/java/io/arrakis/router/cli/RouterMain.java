package io.arrakis.router.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.model.cli.CliErrors;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.router.ExpertChannels;
import io.arrakis.router.RouterServer;
import io.arrakis.router.RouterSettings;
import io.arrakis.router.cluster.ClusterSettings;
import io.arrakis.router.cluster.RemotingTls;
import io.arrakis.router.cluster.RouterRollouts;
import io.arrakis.router.grpc.RouterAccess;
import io.arrakis.router.http.HttpAccess;
import io.arrakis.router.http.HttpSettings;
import io.arrakis.router.kubernetes.KubernetesPlacementSource;
import io.arrakis.router.kubernetes.PlacementConfigMap;
import io.arrakis.security.ClientSecurity;
import io.arrakis.security.HealthPort;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.arrakis.security.Transport;
import io.arrakis.telemetry.MetricsServer;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis router}: runs one router node until SIGTERM. */
@Command(
    name = "arrakis router",
    mixinStandardHelpOptions = true,
    description =
        "Run a router node: the public Inference API (Forward; Generate for a whole-model checkpoint); runs "
            + "everything of the model but the routed experts, and fans each MoE layer's tokens out to the expert nodes of a "
            + "placement.")
public final class RouterMain implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(RouterMain.class);

  @Option(
      names = "--model",
      required = true,
      description =
          "Model directory: a whole-model checkpoint in the Hugging "
              + "Face layout (Forward and Generate: the router loads everything but the routed experts, and the tokenizer), "
              + "or a layer-only model (Forward only: the gates are read).")
  Path model;

  @Option(
      names = "--micro-batches",
      description =
          "Generation: micro-batches in flight, so that the router computes "
              + "one's attention while the expert nodes compute another's MoE layer (default: arrakis.router.serve.micro-batches, 2).")
  Integer microBatches;

  @Option(
      names = "--kv-cache-mb",
      description =
          "Generation: KV-cache memory in MiB, 0 = a quarter of the heap "
              + "(default: arrakis.router.serve.kv-cache-mb).")
  Long kvCacheMb;

  @Option(
      names = "--max-sequences",
      description =
          "Generation: requests accepted at once, past it RESOURCE_EXHAUSTED "
              + "(default: arrakis.router.serve.max-sequences, 512).")
  Integer maxSequences;

  @Option(
      names = "--no-prefix-caching",
      description =
          "Generation: compute every prompt in full, even where an earlier request's cached "
              + "KV-cache blocks begin the same way (default: arrakis.router.serve.prefix-caching, on).")
  boolean noPrefixCaching;

  @Option(
      names = "--placement",
      description =
          "Placement JSON: which expert node (id, address host:port) holds which experts. "
              + "Required unless --kubernetes.")
  Path placement;

  @Option(
      names = "--kubernetes",
      description =
          "Run on Kubernetes: take the placement from a ConfigMap and follow its "
              + "new versions, addresses missing there from Ready expert pods (in-cluster service account, else KUBECONFIG).")
  boolean kubernetes;

  @Option(
      names = "--namespace",
      description =
          "Kubernetes namespace (default: this pod's, else the kubeconfig "
              + "context's, else 'default').")
  String namespace;

  @Option(
      names = "--placement-configmap",
      defaultValue = PlacementConfigMap.DEFAULT_NAME,
      description =
          "ConfigMap holding the placement under key '"
              + PlacementConfigMap.KEY
              + "' (default: ${DEFAULT-VALUE}).")
  String placementConfigMap;

  @Option(
      names = "--expert-selector",
      defaultValue = "app.kubernetes.io/component=expert",
      description =
          "Label selector of the expert pods; their names are the placement's node ids (default: ${DEFAULT-VALUE}).")
  String expertSelector;

  @Option(
      names = "--expert-port",
      defaultValue = "50061",
      description = "Expert pods' gRPC port (default: ${DEFAULT-VALUE}).")
  int expertPort;

  @Option(
      names = "--placement-wait-seconds",
      defaultValue = "300",
      description =
          "With --kubernetes, how long to wait "
              + "at start for a usable placement in the ConfigMap and Ready pods for its nodes (default: ${DEFAULT-VALUE}).")
  long placementWaitSeconds;

  @Option(
      names = "--port",
      description = "gRPC port, 0 = any free port (default: arrakis.router.port, 50051).")
  Integer port;

  @Option(
      names = "--http-port",
      description =
          "Port of the OpenAI-compatible HTTP API (/v1/completions, "
              + "/v1/chat/completions, /v1/models, /health), 0 = any free port, -1 = off (default: arrakis.router.http.port, 8000). "
              + "TLS and the bearer token as for gRPC.")
  Integer httpPort;

  @Option(
      names = "--http-port-file",
      description = "Write the bound HTTP API port here once serving.")
  Path httpPortFile;

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description = "Address to bind (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--node-id", description = "This router's id (default: arrakis.router.node-id).")
  String nodeId;

  @Option(
      names = "--metrics-port",
      description = "Prometheus metrics HTTP port, 0 = off (default: arrakis.router.metrics-port).")
  Integer metricsPort;

  @Option(
      names = "--tls-dir",
      description =
          "TLS from this directory (./arrakis certs): serve with router.crt/router.key "
              + "(taking client and admin certificates of ca.crt from callers), call only expert nodes holding an expert "
              + "certificate, with mutual TLS, and talk to other routers of the router cluster over mutual TLS too.")
  Path tlsDir;

  @Option(
      names = "--auth-token-file",
      description =
          "Require 'authorization: Bearer TOKEN' (or, with --tls-dir, a client "
              + "certificate) on the public Inference service, TOKEN being this file's content (health checks and "
              + "reflection stay open).")
  Path authTokenFile;

  @Option(
      names = "--admin-token-file",
      description =
          "Take 'authorization: Bearer TOKEN' (TOKEN being this file's "
              + "content) on the admin Cluster service (placements, load); with --tls-dir an admin certificate does too. "
              + "Without either the Cluster service is off.")
  Path adminTokenFile;

  @CommandLine.Mixin HealthPort healthPort;

  @Option(
      names = "--insecure-plaintext",
      description = "Allow plaintext gRPC on a non-loopback --host (trusted networks only).")
  boolean insecurePlaintext;

  @Option(
      names = "--cluster-seed",
      paramLabel = "HOST:PORT",
      description =
          "Join the router cluster through this seed "
              + "router's remoting address (repeatable; the first router lists itself). Routers of one cluster share their "
              + "load, and one of them re-plans the placement (default: arrakis.router.cluster.seed-nodes).")
  List<String> clusterSeeds;

  @Option(
      names = "--cluster-host",
      description =
          "Remoting address other routers reach this one at (default: "
              + "arrakis.router.cluster.host, 127.0.0.1).")
  String clusterHost;

  @Option(
      names = "--cluster-port",
      description =
          "Remoting port, 0 = any free port (default: arrakis.router.cluster.port, 25520).")
  Integer clusterPort;

  @Option(names = "--port-file", description = "Write the bound gRPC port here once serving.")
  Path portFile;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    int code = execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  /** Runs the command line; a bad argument or file prints one line, not a stack trace. */
  public static int execute(String... args) {
    CommandLine cli = new CommandLine(new RouterMain());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          log.debug("router failed to start", e);
          cmd.getErr().println("error: " + CliErrors.oneLine(e));
          return 1;
        });
    return cli.execute(args);
  }

  /**
   * --cluster-* flags over arrakis.router.cluster (seeds imply mode seeds), the serving flags over
   * arrakis.router.serve.
   */
  private Config clusterFlags(Config config) {
    Map<String, Object> flags = new HashMap<>();
    if (clusterSeeds != null && !clusterSeeds.isEmpty()) {
      flags.put("arrakis.router.cluster.mode", "seeds");
      flags.put("arrakis.router.cluster.seed-nodes", String.join(",", clusterSeeds));
    }
    if (clusterHost != null) {
      flags.put("arrakis.router.cluster.host", clusterHost);
    }
    if (clusterPort != null) {
      flags.put("arrakis.router.cluster.port", clusterPort);
    }
    if (microBatches != null) {
      flags.put("arrakis.router.serve.micro-batches", microBatches);
    }
    if (kvCacheMb != null) {
      flags.put("arrakis.router.serve.kv-cache-mb", kvCacheMb);
    }
    if (noPrefixCaching) {
      flags.put("arrakis.router.serve.prefix-caching", false);
    }
    if (maxSequences != null) {
      flags.put("arrakis.router.serve.max-sequences", maxSequences);
    }
    return ConfigFactory.parseMap(flags, "command line").withFallback(config);
  }

  @Override
  public Integer call() throws Exception {
    Config config = clusterFlags(ConfigFactory.load());
    if (tlsDir != null) {
      config = RemotingTls.pekkoConfig(tlsDir).withFallback(config);
    }
    RouterSettings settings = RouterSettings.from(config);
    if (port != null) {
      settings = settings.withPort(port);
    }
    if (nodeId != null) {
      settings = settings.withNodeId(nodeId);
    }
    if (metricsPort != null) {
      settings = settings.withMetricsPort(metricsPort);
    }
    if (kubernetes == (placement != null)) {
      throw new CommandLine.ParameterException(
          spec.commandLine(),
          kubernetes
              ? "--placement and --kubernetes exclude each other: on Kubernetes the placement comes from ConfigMap "
                  + placementConfigMap
              : "Missing required option: '--placement=<placement>' (or --kubernetes)");
    }
    Placement p;
    MoeModel moe;
    KubernetesPlacementSource k8s = null;
    if (kubernetes) {
      moe = MoeModel.open(model);
      k8s =
          KubernetesPlacementSource.connect(
              new KubernetesPlacementSource.Options(
                  namespace, placementConfigMap, expertSelector, expertPort),
              moe.moeLayers(),
              moe.config().numExperts());
      try {
        log.info(
            "waiting up to {} s for a placement in ConfigMap {}/{}",
            placementWaitSeconds,
            k8s.namespace(),
            placementConfigMap);
        p = k8s.awaitInitial(Duration.ofSeconds(placementWaitSeconds));
      } catch (RuntimeException | InterruptedException e) {
        k8s.close();
        throw e;
      }
    } else {
      p = PlacementJson.read(placement);
      for (Placement.Node n : p.nodes()) {
        if (n.address() == null) {
          throw new IllegalArgumentException(
              placement + ": node '" + n.id() + "' has no address (host:port)");
        }
      }
      moe = MoeModel.open(model);
    }
    PrometheusMeterRegistry registry = MetricsServer.newRegistry();
    MetricsServer metrics =
        settings.metricsPort() > 0
            ? MetricsServer.start(registry, host, settings.metricsPort())
            : null;
    NettyServerBuilder transport =
        NettyServerBuilder.forAddress(new InetSocketAddress(host, settings.port()));
    ExpertChannels channels;
    if (tlsDir != null) {
      TlsFiles tls = TlsFiles.in(tlsDir, Role.ROUTER).checkRole(Role.ROUTER);
      transport.sslContext(tls.server(false));
      channels =
          new ExpertChannels(
              settings.maxAnswerBytes(moe.config().hiddenSize()), tls.client(Role.EXPERT));
    } else {
      log.warn(Transport.checkPlaintext(host, insecurePlaintext));
      channels = new ExpertChannels(settings.maxAnswerBytes(moe.config().hiddenSize()), null);
    }
    transport.intercept(
        RouterAccess.policy(
            authTokenFile == null ? null : ClientSecurity.readToken(authTokenFile),
            adminTokenFile == null ? null : ClientSecurity.readToken(adminTokenFile),
            tlsDir != null));
    if (adminTokenFile == null && tlsDir == null) {
      log.warn(
          "the admin Cluster service is off: no --admin-token-file (nor --tls-dir for admin certificates)");
    }
    RouterServer server =
        new RouterServer(transport, settings, config, moe, p, channels::client, registry).start();
    HttpSettings http = HttpSettings.from(config);
    if (httpPort != null) {
      http = http.withPort(httpPort);
    }
    if (http.enabled()) {
      try {
        server.startHttp(
            host,
            http,
            HttpAccess.of(
                authTokenFile == null ? null : ClientSecurity.readToken(authTokenFile),
                tlsDir != null),
            tlsDir == null ? null : TlsFiles.in(tlsDir, Role.ROUTER).jdkContext());
      } catch (RuntimeException | IOException e) {
        server.shutdown();
        channels.close();
        throw e;
      }
    }
    HealthPort.Started probes =
        healthPort.start(host, server.healthService(), settings.connections());
    KubernetesPlacementSource placements = k8s;
    if (placements != null) {
      placements.applyTo(server.placementApplier(), p.version());
    }
    ClusterSettings cluster = server.clusterSettings();
    AtomicBoolean stopping = new AtomicBoolean();
    if (cluster.enabled()) {
      // downed by the split-brain resolver, the actor system stops: exit, so that the router
      // restarts and rejoins
      server
          .system()
          .getWhenTerminated()
          .thenRun(
              () -> {
                if (!stopping.get()) {
                  log.error(
                      "router {} was removed from the router cluster; exiting",
                      server.system().name());
                  System.exit(70);
                }
              });
      server.joinCluster(
          placements != null
              ? placements.sink(
                  placementConfigMap,
                  server.system().dispatchers().lookup(DispatcherSelector.blocking()))
              : new RouterRollouts(server.system(), cluster.controller().rolloutTimeout()));
    }
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stopping.set(true);
                  if (placements != null) {
                    placements.close(); // no new rollouts while shutting down
                  }
                  try {
                    server.shutdown();
                    channels.close();
                    if (probes != null) {
                      probes.close();
                    }
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                  if (metrics != null) {
                    metrics.close();
                  }
                },
                "shutdown"));
    if (httpPortFile != null && server.httpPort() > 0) {
      writePortFile(
          httpPortFile, server.httpPort()); // before the gRPC one, which says the router is up
    }
    if (portFile != null) {
      writePortFile(portFile, server.port());
    }
    System.out.println(
        "router "
            + settings.nodeId()
            + " serving on "
            + host
            + ":"
            + server.port()
            + (server.httpPort() > 0
                ? ", HTTP API (OpenAI) on " + host + ":" + server.httpPort()
                : "")
            + " ("
            + (server.serving().isPresent()
                ? "Generate and Forward"
                : "Forward: a layer-only model")
            + ", placement version "
            + p.version()
            + ", "
            + p.nodes().size()
            + " expert nodes"
            + (placements != null
                ? ", following ConfigMap " + placements.namespace() + "/" + placementConfigMap
                : "")
            + (cluster.enabled()
                ? ", router cluster member at " + cluster.host() + ":" + cluster.port()
                : "")
            + ")");
    server.awaitTermination();
    return 0;
  }

  private static void writePortFile(Path file, int port) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, Integer.toString(port));
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }
}
