package io.arrakis.security;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * grpc.health.v1 alone on a port of its own, in plaintext: the kubelet's gRPC probes cannot speak
 * TLS, so a node serving TLS answers them here. It says only whether the node serves (the same
 * status as on the node's own port); every other service is on the TLS port.
 */
public final class HealthPort {
  private HealthPort() {}

  /** Starts serving {@code health} on {@code host:port}. */
  public static Server start(String host, int port, BindableService health) throws IOException {
    try {
      return NettyServerBuilder.forAddress(new InetSocketAddress(host, port)).addService(health).build().start();
    } catch (IOException e) {
      // a bind error's message names neither the address nor what it was for
      throw new IOException("cannot serve health checks on " + host + ":" + port + ": " + e.getMessage(), e);
    }
  }
}
