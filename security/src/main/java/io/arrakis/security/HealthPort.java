package io.arrakis.security;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Option;

/**
 * {@code --health-port} (a picocli mixin of the node commands): grpc.health.v1 alone on a port of
 * its own, in plaintext. The kubelet's gRPC probes cannot speak TLS, so a node serving TLS answers
 * them here. It says only whether the node serves (the same status as on the node's own port);
 * every other service is on the TLS port.
 */
public final class HealthPort {
  @Option(
      names = "--health-port",
      description =
          "Also answer grpc.health.v1, and nothing else, in plaintext on this "
              + "port, for probes that cannot speak TLS (the kubelet's); default: off.")
  Integer port;

  /**
   * Starts serving {@code health} on {@code host} and the port given, its connections under the
   * node's connection {@code limits}; null when no port was given.
   */
  public Started start(String host, BindableService health, ConnectionLimits limits)
      throws IOException {
    if (port == null || port == 0) {
      return null;
    }
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(new InetSocketAddress(host, port)).addService(health);
    AcceptedConnections connections = limits.applyTo(builder);
    try {
      return new Started(builder.build().start(), connections);
    } catch (IOException e) {
      connections.close();
      // a bind error's message names neither the address nor what it was for
      throw new IOException(
          "cannot serve health checks on " + host + ":" + port + ": " + e.getMessage(), e);
    }
  }

  /**
   * The probe port's server and the bound on its connections.
   *
   * @param server serving health alone
   * @param connections its open connections (and their event loops)
   */
  public record Started(Server server, AcceptedConnections connections) implements AutoCloseable {
    public int port() {
      return server.getPort();
    }

    /** Stops at once (a probe is not worth a grace period), then the event loops. */
    @Override
    public void close() throws InterruptedException {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      connections.close();
    }
  }
}
