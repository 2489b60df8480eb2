package io.arrakis.expert.cli;

import com.typesafe.config.ConfigFactory;
import io.arrakis.expert.ExpertAccess;
import io.arrakis.expert.ExpertNodeServer;
import io.arrakis.expert.ExpertNodeSettings;
import io.arrakis.expert.compute.Backends;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.cli.CliErrors;
import io.arrakis.model.kernel.backend.ExpertBackend;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.security.HealthPort;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import io.arrakis.security.Transport;
import io.arrakis.telemetry.MetricsServer;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis expert}: runs one expert node until SIGTERM. */
@Command(
    name = "arrakis expert",
    mixinStandardHelpOptions = true,
    description =
        "Run an expert node: load the given experts of a model and compute batches for them over gRPC.")
public final class ExpertNodeMain implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(ExpertNodeMain.class);

  @Option(
      names = "--model",
      required = true,
      description = "Model directory (config.json + model*.safetensors).")
  Path model;

  @Option(
      names = "--experts",
      description =
          "Experts to hold: LAYERS:EXPERTS items, e.g. 0:0-3,1:* or all (default: all, unless --placement is given).")
  String experts;

  @Option(
      names = "--placement",
      description =
          "Placement JSON file: hold the experts it lists for this node's id (instead of --experts).")
  Path placement;

  @Option(
      names = "--port",
      description = "gRPC port, 0 = any free port (default: arrakis.expert.port, 50061).")
  Integer port;

  @Option(
      names = "--host",
      defaultValue = "127.0.0.1",
      description = "Address to bind, for gRPC and metrics (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(
      names = "--node-id",
      description = "This node's id in the placement (default: arrakis.expert.node-id).")
  String nodeId;

  @Option(
      names = "--threads",
      description = "Compute threads (default: one per core; on a GPU each has its own stream).")
  Integer threads;

  @Option(
      names = "--device",
      paramLabel = "cpu|cuda[:N]",
      description =
          "Compute on the CPU (ND4J and OpenBLAS, float32) or on GPU N through the CUDA 13 libraries "
              + "(bf16 weights, float32 accumulation) (default: arrakis.expert.device, cpu).")
  String device;

  @Option(
      names = "--metrics-port",
      description =
          "Serve Prometheus metrics on http://HOST:PORT/metrics; 0 = off (default: arrakis.expert.metrics-port, 0).")
  Integer metricsPort;

  @Option(
      names = "--tls-dir",
      description =
          "Serve with TLS using ca.crt, expert.crt and expert.key from this directory "
              + "(./arrakis certs), and accept only callers with a certificate signed by that CA (mutual TLS); only router "
              + "certificates may call the Expert service.")
  Path tlsDir;

  @CommandLine.Mixin HealthPort healthPort;

  @Option(
      names = "--insecure-plaintext",
      description = "Allow plaintext gRPC on a non-loopback --host (trusted networks only).")
  boolean insecurePlaintext;

  @Option(names = "--port-file", description = "Write the bound gRPC port here once serving.")
  Path portFile;

  public static void main(String[] args) {
    int code = execute(args);
    if (code != 0) {
      System.exit(code);
    }
    // on success the node has stopped after SIGTERM, from within the shutdown hook: System.exit
    // here would block on that hook, so just return
  }

  /** Runs the command line; returns the exit code (1 for an error, printed as one line). */
  public static int execute(String... args) {
    // the charset System.out and System.err write in (JDK 17): UTF-8 as the launcher starts it
    Charset console = Charset.defaultCharset();
    return execute(
        new PrintWriter(System.out, true, console),
        new PrintWriter(System.err, true, console),
        args);
  }

  static int execute(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cli = new CommandLine(new ExpertNodeMain()).setOut(out).setErr(err);
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          // the message says what is wrong with the input; a stack trace would bury it, so it goes
          // to
          // the debug log only (ARRAKIS_LOG_LEVEL=DEBUG)
          log.debug("expert node failed to start", e);
          cmd.getErr().println("error: " + CliErrors.oneLine(e));
          return 1;
        });
    return cli.execute(args);
  }

  @Override
  public Integer call() throws Exception {
    ExpertSelection selection = new ExpertSelection(experts, placement);
    ExpertNodeSettings settings = settings();
    // the device first: a machine without it gets one line before any model file is read
    ExpertBackend backend = Backends.open(settings);
    MoeModel moe = MoeModel.open(model);
    List<ExpertId> ids;
    try {
      ids = selection.resolve(settings.nodeId(), moe.moeLayers(), moe.config().numExperts());
    } catch (IOException | RuntimeException e) {
      moe.close();
      throw e;
    }
    // the model stays open until the JVM exits: compute threads may still read it while the
    // shutdown hook drains
    serve(settings, moe, backend, ids);
    return 0;
  }

  private ExpertNodeSettings settings() {
    ExpertNodeSettings settings = ExpertNodeSettings.from(ConfigFactory.load());
    if (port != null) {
      settings = settings.withPort(port);
    }
    if (nodeId != null) {
      settings = settings.withNodeId(nodeId);
    }
    if (threads != null) {
      settings = settings.withComputeThreads(threads);
    }
    if (metricsPort != null) {
      settings = settings.withMetricsPort(metricsPort);
    }
    if (device != null) {
      settings = settings.withDevice(device);
    }
    return settings;
  }

  /** Serves until SIGTERM: health says NOT_SERVING until the experts are loaded. */
  private void serve(
      ExpertNodeSettings settings, MoeModel moe, ExpertBackend backend, List<ExpertId> ids)
      throws Exception {
    // one registry either way, recorded into always and served only with a metrics port, so the
    // node has no "metrics off" branch
    PrometheusMeterRegistry registry = MetricsServer.newRegistry();
    AutoCloseable metrics = serveMetrics(registry, settings.metricsPort());
    ExpertStore store = new ExpertStore(moe, backend);
    ExpertNodeServer server;
    try {
      server = new ExpertNodeServer(transport(settings), settings, store, registry).start();
    } catch (IOException | RuntimeException e) {
      metrics.close();
      throw e;
    }
    HealthPort.Started probes =
        healthPort.start(host, server.healthService(), settings.connections());
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    server.shutdown();
                    if (probes != null) {
                      probes.close();
                    }
                    metrics.close(); // after the drain, so that scrapes see it
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  } catch (Exception e) {
                    log.warn("closing the metrics server failed", e);
                  }
                },
                "shutdown"));
    store.load(ids);
    server.markServing();
    if (portFile != null) {
      Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
      Files.writeString(tmp, Integer.toString(server.port()));
      Files.move(tmp, portFile, StandardCopyOption.ATOMIC_MOVE);
    }
    server.awaitTermination();
  }

  private NettyServerBuilder transport(ExpertNodeSettings settings) throws IOException {
    NettyServerBuilder b =
        NettyServerBuilder.forAddress(new InetSocketAddress(host, settings.port()));
    if (tlsDir != null) {
      return b.sslContext(TlsFiles.in(tlsDir, Role.EXPERT).checkRole(Role.EXPERT).server(true))
          .intercept(ExpertAccess.routersOnly());
    }
    log.warn(Transport.checkPlaintext(host, insecurePlaintext));
    return b;
  }

  private AutoCloseable serveMetrics(PrometheusMeterRegistry registry, int metricsPort)
      throws IOException {
    if (metricsPort <= 0) {
      return () -> {};
    }
    try {
      return MetricsServer.start(registry, host, metricsPort);
    } catch (IOException e) {
      // a bind error's message names neither the address nor what it was for
      throw new IOException(
          "cannot serve metrics on " + host + ":" + metricsPort + ": " + e.getMessage(), e);
    }
  }
}
