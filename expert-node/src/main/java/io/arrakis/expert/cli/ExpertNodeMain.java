package io.arrakis.expert.cli;

import com.typesafe.config.ConfigFactory;
import io.arrakis.expert.ExpertNodeServer;
import io.arrakis.expert.ExpertNodeSettings;
import io.arrakis.expert.store.ExpertSpec;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.moe.MoeModel;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
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
    description = "Run an expert node: load the given experts of a model and compute batches for them over gRPC.")
public final class ExpertNodeMain implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(ExpertNodeMain.class);

  @Option(names = "--model", required = true, description = "Model directory (config.json + model*.safetensors).")
  Path model;

  @Option(names = "--experts", defaultValue = "all",
      description = "Experts to hold: LAYERS:EXPERTS items, e.g. 0:0-3,1:* or all (default: ${DEFAULT-VALUE}).")
  String experts;

  @Option(names = "--port", description = "gRPC port, 0 = any free port (default: arrakis.expert.port, 50061).")
  Integer port;

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--node-id", description = "This node's id in the placement (default: arrakis.expert.node-id).")
  String nodeId;

  @Option(names = "--threads", description = "Compute threads (default: one per core).")
  Integer threads;

  @Option(names = "--metrics-port", description = "Prometheus metrics HTTP port, 0 = off.")
  Integer metricsPort;

  @Option(names = "--port-file", description = "Write the bound gRPC port here once serving.")
  Path portFile;

  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new ExpertNodeMain());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      log.error("expert node failed to start: {}", e.getMessage(), e);
      cmd.getErr().println("error: " + e.getMessage());
      return 1;
    });
    int code = cli.execute(args);
    if (code != 0) {
      System.exit(code);
    }
  }

  @Override
  public Integer call() throws Exception {
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
    MoeModel moe = MoeModel.open(model);
    var ids = ExpertSpec.parse(experts, moe.moeLayers(), moe.config().numExperts());
    ExpertStore store = new ExpertStore(moe);
    ExpertNodeServer server = new ExpertNodeServer(
        NettyServerBuilder.forAddress(new InetSocketAddress(host, settings.port())), settings, store).start();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.shutdown();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "shutdown"));
    store.load(ids);
    server.markServing();
    if (portFile != null) {
      Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
      Files.writeString(tmp, Integer.toString(server.port()));
      Files.move(tmp, portFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
    server.awaitTermination();
    return 0;
  }
}
