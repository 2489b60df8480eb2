package io.arrakis.router;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.router.http.HttpAccess;
import io.arrakis.router.http.HttpSettings;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** A router over loopback gRPC with experts computed in this JVM ({@link InProcessExpert}). */
final class RouterHarness implements AutoCloseable {
  final MoeModel model;
  final RouterServer router;
  final ManagedChannel channel;
  final MeterRegistry registry;

  /** Written by the router's guardian (new nodes of later placements) and read by tests. */
  final Map<String, InProcessExpert> experts = new ConcurrentHashMap<>();

  RouterHarness(
      String fixture, Placement placement, RouterSettings settings, NettyServerBuilder transport)
      throws Exception {
    this(fixture, placement, settings, transport, new SimpleMeterRegistry());
  }

  RouterHarness(
      String fixture,
      Placement placement,
      RouterSettings settings,
      NettyServerBuilder transport,
      MeterRegistry registry)
      throws Exception {
    this(Fixtures.dir(fixture), placement, settings, transport, registry, ConfigFactory.load());
  }

  /**
   * A router of any model directory (a whole model too), with {@code config} (e.g. serve settings).
   */
  RouterHarness(
      Path dir,
      Placement placement,
      RouterSettings settings,
      NettyServerBuilder transport,
      MeterRegistry registry,
      Config config)
      throws Exception {
    this.registry = registry;
    model = MoeModel.open(dir);
    // made here, not when the guardian first asks (it starts on its own thread after the
    // constructor
    // returns), so that a test can reach the nodes of the initial placement at once
    placement.nodes().forEach(n -> experts.put(n.id(), new InProcessExpert(n, model)));
    router =
        new RouterServer(
                transport,
                settings,
                config,
                model,
                placement,
                node -> experts.computeIfAbsent(node.id(), id -> new InProcessExpert(node, model)),
                registry)
            .start();
    channel = NettyChannelBuilder.forAddress("127.0.0.1", router.port()).usePlaintext().build();
  }

  /**
   * A router of {@code fixture} over loopback, its experts dealt contiguously over {@code nodes}
   * nodes.
   */
  static RouterHarness contiguous(String fixture, int nodes, RouterSettings settings)
      throws Exception {
    return new RouterHarness(
        fixture, placement(fixture, "contiguous", nodes, 1), settings, loopback());
  }

  /**
   * A router serving the whole model in {@code dir} over loopback (default settings but {@code
   * config}'s), its experts dealt contiguously over 2 nodes, so that every MoE layer crosses both.
   */
  static RouterHarness serving(Path dir, MeterRegistry registry, Config config) throws Exception {
    return new RouterHarness(
        dir, placement(dir, "contiguous", 2, 1), settings(), loopback(), registry, config);
  }

  static RouterSettings settings() {
    return RouterSettings.from(ConfigFactory.load()).withDrainDelay(Duration.ZERO);
  }

  static NettyServerBuilder loopback() {
    return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0));
  }

  /** A placement of the fixture's model by strategy. */
  static Placement placement(String fixture, String kind, int nodes, int replicas)
      throws Exception {
    return placement(Fixtures.dir(fixture), kind, nodes, replicas);
  }

  static Placement placement(Path dir, String kind, int nodes, int replicas) throws Exception {
    try (MoeModel m = MoeModel.open(dir)) {
      return withAddresses(
          Strategies.place(
              Strategies.Kind.parse(kind),
              nodes,
              replicas,
              m.moeLayers(),
              m.config().numExperts()));
    }
  }

  /** Placements name where each node is; in-process nodes get a made-up address. */
  static Placement withAddresses(Placement p) {
    return new Placement(
        p.version(), p.nodes().stream().map(n -> n.withAddress("in-process/" + n.id())).toList());
  }

  /**
   * Starts the router's OpenAI-compatible API on a free loopback port, open to anyone ({@code
   * config}'s {@code arrakis.router.http} otherwise), and returns a client of it.
   */
  OpenAiHttp openHttp(Config config) {
    return new OpenAiHttp(
        router
            .startHttp("127.0.0.1", HttpSettings.from(config).withPort(0), HttpAccess.open(), null)
            .port());
  }

  InferenceGrpc.InferenceBlockingStub inference() {
    return InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws Exception {
    channel.shutdownNow();
    router.shutdown();
    experts.values().forEach(InProcessExpert::stop);
    model.close();
  }
}
