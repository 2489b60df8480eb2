package io.arrakis.router;

import com.typesafe.config.Config;
import io.arrakis.engine.DecoderModel;
import io.arrakis.engine.Engine;
import io.arrakis.model.checkpoint.WeightNames;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.Placement;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ModelInfo;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.router.cluster.ClusterLoadView;
import io.arrakis.router.cluster.ClusterSettings;
import io.arrakis.router.cluster.PlacementSink;
import io.arrakis.router.cluster.RouterCluster;
import io.arrakis.router.dispatch.ExpertClient;
import io.arrakis.router.grpc.ClusterService;
import io.arrakis.router.grpc.InferenceService;
import io.arrakis.router.grpc.RequestLimits;
import io.arrakis.router.http.HttpAccess;
import io.arrakis.router.http.HttpApi;
import io.arrakis.router.http.HttpSettings;
import io.arrakis.router.request.PlacementApplier;
import io.arrakis.router.request.RolloutSettings;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.request.SharedExperts;
import io.arrakis.router.serve.ServeSettings;
import io.arrakis.router.serve.Serving;
import io.arrakis.router.stats.CallLatency;
import io.arrakis.router.stats.LoadStats;
import io.arrakis.router.stats.RouterTelemetry;
import io.arrakis.security.AcceptedConnections;
import io.arrakis.security.MalformedRequests;
import io.arrakis.security.RequestArrival;
import io.arrakis.security.WireLimits;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import javax.net.ssl.SSLContext;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A router node: the Inference and Cluster services over the Pekko actors, grpc.health.v1 and
 * server reflection. With a whole-model checkpoint it also generates ({@link Serving}): everything
 * but the routed experts runs here, the routed experts on the expert nodes. Takes a {@link
 * ServerBuilder} and the way to reach expert nodes, so tests can run it on any transport.
 */
public final class RouterServer {
  private static final Logger log = LoggerFactory.getLogger(RouterServer.class);

  private final RouterSettings settings;
  private final ActorSystem<RouterGuardian.Command> system;
  private final HealthStatusManager health = new HealthStatusManager();
  private final Server server;
  private final RequestArrival arrival;
  private final AcceptedConnections connections;
  private final ClusterSettings cluster;
  private final ClusterLoadView clusterLoad;
  private final RouterTelemetry telemetry;
  private final MoeModel model;
  private final PlacementApplier applier;

  /** Generation, on a router serving a whole model; null for a layer-only model. */
  private final Serving serving;

  /** The OpenAI-compatible HTTP API, once started. */
  private volatile HttpApi http;

  /**
   * @param placement checked against the model here; every node needs what {@code clients} needs to
   *     reach it
   */
  public RouterServer(
      ServerBuilder<?> builder,
      RouterSettings settings,
      Config config,
      MoeModel model,
      Placement placement,
      Function<Placement.Node, ExpertClient> clients,
      MeterRegistry registry)
      throws IOException {
    this.settings = settings;
    var cfg = model.config();
    placement.checkCovers(model.moeLayers(), cfg.numExperts());
    Map<Integer, Gate> gates = new TreeMap<>();
    for (int layer : model.moeLayers()) {
      gates.put(layer, model.gate(layer));
    }
    this.model = model;
    this.cluster = ClusterSettings.from(config);
    this.clusterLoad = new ClusterLoadView(cluster.loadWindow());
    this.telemetry = new RouterTelemetry(registry, new LoadStats(Clock.systemUTC()));
    RolloutSettings rollout = RolloutSettings.from(config);
    ServeSettings serve = ServeSettings.from(config);
    ModelInfo info = InferenceService.modelInfo(cfg, model.moeLayers(), model.weightsDtype());
    // a whole-model checkpoint: the router runs everything but the routed experts, and serves
    // Generate
    DecoderModel decoder =
        model.checkpoint().has(WeightNames.EMBED)
            ? Engine.loadDecoder(model.dir(), model.checkpoint())
            : null;
    SharedExperts shared = decoder != null ? SharedExperts.of(decoder) : SharedExperts.load(model);
    RouterGuardian.Setup setup =
        new RouterGuardian.Setup(
            gates,
            cfg.hiddenSize(),
            info.getWeightsDtype() == DType.BFLOAT16,
            settings.nodeLimits(),
            rollout,
            clients,
            telemetry,
            cluster.enabled(),
            shared);
    // the guardian shares the coordinators' dispatcher, so that starting a request's coordinator
    // and
    // handing its slices to the node dispatchers stays on one pool instead of waking another
    this.system =
        ActorSystem.create(
            RouterGuardian.create(setup, placement),
            ClusterSettings.SYSTEM_NAME,
            cluster.pekkoConfig().withFallback(config),
            DispatcherSelector.fromConfig(RouterGuardian.COMPUTE_DISPATCHER));
    this.serving =
        decoder != null ? Serving.start(system, decoder, model.dir(), serve, registry) : null;
    this.applier = new PlacementApplier(system, model.moeLayers(), cfg.numExperts(), rollout);
    TokenLimiter admission = new TokenLimiter(settings.admission());
    telemetry.registerAdmission(admission);
    // bounds on a request's repeated and string fields, checked before it is parsed
    WireLimits limits =
        RequestLimits.of(
            model.moeLayers().size() * cfg.numExperts(),
            serve,
            serving != null ? serving.model().contextTokens() : 0);
    List<ServerServiceDefinition> services =
        List.of(
            MalformedRequests.invalidArgument(
                new InferenceService(
                        system,
                        info,
                        settings.maxRequestTokens(),
                        settings.defaultDeadline(),
                        settings.maxDeadline(),
                        telemetry,
                        admission,
                        serving,
                        serve)
                    .bindService(),
                limits),
            MalformedRequests.invalidArgument(
                new ClusterService(
                        system,
                        applier,
                        telemetry,
                        new ClusterService.ClusterView(
                            settings.nodeId(),
                            cluster.enabled() ? clusterLoad : null,
                            cluster.loadWindow()))
                    .bindService(),
                limits),
            health.getHealthService().bindService(),
            ProtoReflectionServiceV1.newInstance().bindService());
    services.forEach(builder::addService);
    // every handler only checks its call and hands it to the actors (or answers from memory), so
    // it runs on the transport thread: a hop through gRPC's executor would only add a thread
    // wake-up
    builder.directExecutor().maxInboundMessageSize(settings.maxMessageBytes(cfg.hiddenSize()));
    arrival = new RequestArrival(settings.arrival());
    arrival.register(builder);
    connections = settings.connections().applyTo(builder);
    connections.meter(registry, "arrakis_router");
    new CallLatency(registry, services).register(builder);
    this.server = builder.build();
    health.setStatus("", ServingStatus.NOT_SERVING);
  }

  /** Starts listening and reports SERVING. */
  public RouterServer start() throws IOException {
    server.start();
    health.setStatus("", ServingStatus.SERVING);
    health.setStatus("arrakis.v1.Inference", ServingStatus.SERVING);
    log.info("router {} listening on port {}", settings.nodeId(), port());
    return this;
  }

  /**
   * Starts the OpenAI-compatible HTTP API on its own port, over the same generation as {@code
   * Generate} (on a layer-only model it answers /health and /v1/models, and 501 for completions).
   *
   * @param tls the server's TLS context, or null for plaintext
   * @throws IllegalStateException when its port cannot be bound
   */
  public HttpApi startHttp(
      String host, HttpSettings httpSettings, HttpAccess access, SSLContext tls) {
    ServeSettings serve = serving != null ? serving.settings() : null;
    http =
        HttpApi.start(
            system,
            host,
            httpSettings,
            serving,
            access,
            tls,
            serve != null ? serve.defaultDeadline() : settings.defaultDeadline(),
            serve != null ? serve.maxStopStrings() : 0);
    return http;
  }

  /** The HTTP API's port, or -1 when it was not started. */
  public int httpPort() {
    HttpApi h = http;
    return h == null ? -1 : h.port();
  }

  /**
   * Joins the router cluster (when arrakis.router.cluster.mode is not off): load sharing, rollouts
   * from the placement controller, and the controller singleton publishing through {@code sink}.
   */
  public void joinCluster(PlacementSink sink) {
    if (!cluster.enabled()) {
      throw new IllegalStateException("arrakis.router.cluster.mode is off");
    }
    RouterCluster.join(
        system,
        cluster,
        new RouterCluster.Member(
            settings.nodeId(),
            telemetry.load(),
            clusterLoad,
            model.moeLayers(),
            model.config().numExperts(),
            applier),
        sink);
  }

  public ClusterSettings clusterSettings() {
    return cluster;
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

  /**
   * How placements reach this router (checked, rolled out live), for what feeds it placements from
   * inside the process.
   */
  public PlacementApplier placementApplier() {
    return applier;
  }

  /** Generation of the whole model, if the router serves one. */
  public Optional<Serving> serving() {
    return Optional.ofNullable(serving);
  }

  /** The router's actors. */
  public ActorSystem<RouterGuardian.Command> system() {
    return system;
  }

  /**
   * Staged shutdown: NOT_SERVING for the drain delay while still answering, then stop taking calls,
   * let in-flight calls finish within the grace period, then cut off what is left and stop the
   * actors.
   */
  public void shutdown() throws InterruptedException {
    health.setStatus("", ServingStatus.NOT_SERVING);
    health.setStatus("arrakis.v1.Inference", ServingStatus.NOT_SERVING);
    HttpApi api = http;
    if (api != null) {
      api.drain();
    }
    Thread.sleep(settings.drainDelay().toMillis());
    server.shutdown();
    Duration grace = settings.shutdownGrace();
    CompletableFuture<Void> httpStopped =
        api == null
            ? CompletableFuture.completedFuture(null)
            : CompletableFuture.runAsync(() -> api.stop(grace));
    if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      log.warn("in-flight calls did not finish within {}; cancelling them", grace);
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    }
    httpStopped.join();
    arrival.close();
    connections.close();
    health.enterTerminalState();
    system.terminate();
    try {
      system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      log.warn("actor system did not stop cleanly: {}", e.toString());
    }
    if (serving != null) {
      try {
        serving.close();
      } catch (IOException e) {
        log.warn("the serving engine did not close cleanly: {}", e.toString());
      }
    }
    log.info("router {} stopped", settings.nodeId());
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }
}
