package io.arrakis.expert;

import io.arrakis.expert.compute.ComputeExecutor;
import io.arrakis.expert.grpc.ErrorCounter;
import io.arrakis.expert.grpc.ExpertService;
import io.arrakis.expert.grpc.RequestLimits;
import io.arrakis.expert.metrics.ExpertMetrics;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.security.AcceptedConnections;
import io.arrakis.security.MalformedRequests;
import io.arrakis.security.RequestArrival;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An expert node's gRPC server: the Expert service, grpc.health.v1 (NOT_SERVING until the weights
 * are loaded and again while draining) and server reflection. Takes a {@link ServerBuilder} so
 * tests can run it on any transport, and the {@link MeterRegistry} to record into, so that serving
 * the meters (or not) is the caller's business.
 */
public final class ExpertNodeServer {
  private static final Logger log = LoggerFactory.getLogger(ExpertNodeServer.class);

  private final ExpertNodeSettings settings;
  private final String device;
  private final ExpertStore store;
  private final ComputeExecutor executor;
  private final HealthStatusManager health = new HealthStatusManager();
  private final Server server;
  private final RequestArrival arrival;
  private final AcceptedConnections connections;

  /** A node whose meters record nothing. */
  public ExpertNodeServer(
      ServerBuilder<?> builder, ExpertNodeSettings settings, ExpertStore store) {
    this(builder, settings, store, ExpertMetrics.off());
  }

  public ExpertNodeServer(
      ServerBuilder<?> builder,
      ExpertNodeSettings settings,
      ExpertStore store,
      MeterRegistry registry) {
    this.settings = settings;
    this.store = store;
    this.executor = new ComputeExecutor(settings.computeThreads(), settings.queueCapacity());
    var config = store.model().config();
    ExpertMetrics metrics =
        new ExpertMetrics(
            registry,
            settings.nodeId(),
            config.numLayers(),
            config.numExperts(),
            settings.maxBatchTokens(),
            executor);
    this.device = store.backend().device();
    metrics.device(store.backend().name(), device, store::weightBytes);
    int messageLimit = settings.messageLimit(config);
    long fullBatch = (long) settings.maxBatchTokens() * config.hiddenSize() * Float.BYTES;
    if (messageLimit < fullBatch) {
      log.warn(
          "max-message-bytes {} holds fewer than max-batch-tokens {} float32 rows of hidden size {} ({} bytes): "
              + "routers split their batches to it",
          messageLimit,
          settings.maxBatchTokens(),
          config.hiddenSize(),
          fullBatch);
    }
    ExpertService service =
        new ExpertService(
            settings.nodeId(),
            store,
            executor,
            new ExpertService.Capacity(
                settings.maxBatchTokens(), messageLimit, store.backend().computeDtype()),
            metrics);
    arrival = new RequestArrival(settings.arrival());
    arrival.register(builder);
    connections = settings.connections().applyTo(builder);
    connections.meter(registry, "arrakis_expert");
    this.server =
        builder
            .maxInboundMessageSize(messageLimit)
            .addService(
                ServerInterceptors.intercept(
                    MalformedRequests.invalidArgument(
                        service.bindService(), RequestLimits.of(settings.maxBatchTokens(), config)),
                    new ErrorCounter(metrics)))
            .addService(health.getHealthService())
            .addService(ProtoReflectionServiceV1.newInstance())
            .build();
    setHealth(ServingStatus.NOT_SERVING);
  }

  /** Starts listening; health answers NOT_SERVING until {@link #markServing()}. */
  public ExpertNodeServer start() throws IOException {
    server.start();
    log.info("expert node {} listening on port {}", settings.nodeId(), port());
    return this;
  }

  /** Reports SERVING once the node's experts are loaded. */
  public void markServing() {
    setHealth(ServingStatus.SERVING);
    log.info(
        "expert node {} serving {} experts ({} of weights) on {}",
        settings.nodeId(),
        store.held().size(),
        String.format(Locale.ROOT, "%.2f GiB", store.weightBytes() / (double) (1L << 30)),
        device);
  }

  public int port() {
    return server.getPort();
  }

  /**
   * grpc.health.v1 as this server answers it, for a plaintext probe port (see {@code HealthPort}).
   */
  public BindableService healthService() {
    return health.getHealthService();
  }

  public ExpertStore store() {
    return store;
  }

  /**
   * Staged shutdown: with a leave timeout, keep serving until the node holds no expert (the
   * placement moved them elsewhere); then NOT_SERVING for the drain delay while still taking calls,
   * then stop taking calls, let in-flight batches finish within the grace period, then cut off what
   * is left.
   */
  public void shutdown() throws InterruptedException {
    awaitUnplaced(settings.leaveTimeout());
    setHealth(ServingStatus.NOT_SERVING);
    Thread.sleep(settings.drainDelay().toMillis());
    Duration grace = settings.shutdownGrace();
    server.shutdown();
    if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      log.warn("in-flight calls did not finish within {}; cancelling them", grace);
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    }
    arrival.close();
    connections.close();
    executor.shutdown(Duration.ofSeconds(5));
    store.backend().close();
    health.enterTerminalState();
    log.info("expert node {} stopped", settings.nodeId());
  }

  /** Waits, at most {@code timeout}, until the routers have unloaded every expert of this node. */
  private void awaitUnplaced(Duration timeout) throws InterruptedException {
    if (timeout.isZero() || store.held().isEmpty()) {
      return;
    }
    log.info(
        "leaving: serving until the placement moves this node's {} experts elsewhere (at most {})",
        store.held().size(),
        timeout);
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!store.held().isEmpty()) {
      if (System.nanoTime() > deadline) {
        log.warn("still holding {} experts after {}; leaving anyway", store.held().size(), timeout);
        return;
      }
      Thread.sleep(100);
    }
    log.info("no expert held any more: draining");
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  private void setHealth(ServingStatus status) {
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, status);
    health.setStatus(ExpertGrpc.SERVICE_NAME, status);
  }
}
