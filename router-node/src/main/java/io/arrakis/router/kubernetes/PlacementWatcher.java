package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.Placement;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the placement ConfigMap and hands every new placement version, once, to an {@link
 * Applier} (in a router: {@code PlacementApplier.bringTo}, the guardian's live rollout).
 *
 * <p>Node ids are expert pod names; a node without an address in the ConfigMap gets the one {@link
 * ExpertDiscovery} knows for its Ready pod. A version that names a pod which is not Ready yet waits
 * (logged once) and is tried again whenever discovery changes. A ConfigMap that does not parse or
 * does not cover the model is logged in one line and ignored: the placement in use stays.
 *
 * <p>All state lives on one thread, so informer callbacks, discovery changes, rollout results and
 * retries never race; the Kubernetes and actor threads only post to it.
 */
final class PlacementWatcher implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PlacementWatcher.class);
  private static final Duration FIRST_RETRY = Duration.ofSeconds(1);
  private static final Duration MAX_RETRY = Duration.ofSeconds(30);

  /** Puts a placement (complete: every node has an address) in use. */
  @FunctionalInterface
  public interface Applier {
    /**
     * Completes once {@code placement}, or a version at least as new, is in use; fails when it is
     * not, and the watcher tries again later.
     */
    CompletionStage<?> apply(Placement placement);
  }

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final String where;
  private final ExpertDiscovery discovery;
  private final List<Integer> moeLayers;
  private final int numExperts;
  private final ScheduledExecutorService executor;
  private final Consumer<Map<String, String>> onDiscovery = ready -> post(this::reconcile);

  /** The first complete placement seen, for a router that starts from the ConfigMap. */
  private final CompletableFuture<Placement> first = new CompletableFuture<>();

  private SharedIndexInformer<ConfigMap> informer;

  // confined to the executor's thread
  private Placement latest;
  private long applied = -1;
  private Applier applier;
  private boolean inFlight;
  private long waitingLogged = -1;
  private int failures;
  private ScheduledFuture<?> retry;
  private long retryVersion = -1;

  /** Why there is no usable placement yet, for the error of {@link #awaitFirst}. */
  private volatile String problem;

  private volatile long appliedVersion = -1;

  /**
   * @param moeLayers and {@code numExperts}: the model a placement must cover
   */
  public PlacementWatcher(
      KubernetesClient client,
      String namespace,
      String name,
      ExpertDiscovery discovery,
      List<Integer> moeLayers,
      int numExperts) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.where = PlacementConfigMap.describe(namespace, name);
    this.discovery = discovery;
    this.moeLayers = List.copyOf(moeLayers);
    this.numExperts = numExperts;
    this.problem = where + " does not exist or is not readable";
    this.executor =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "arrakis-placement-watcher");
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Starts watching the ConfigMap (and listening to discovery); waits at most {@code timeout} for
   * the first answer of the API server. The ConfigMap need not exist yet.
   *
   * @throws IllegalStateException when the API server does not answer in time or refuses access
   */
  public synchronized PlacementWatcher start(Duration timeout) {
    if (informer != null) {
      throw new IllegalStateException("already started");
    }
    discovery.addListener(onDiscovery);
    informer = client.configMaps().inNamespace(namespace).withName(name).runnableInformer(0);
    informer.addEventHandler(
        new ResourceEventHandler<ConfigMap>() {
          @Override
          public void onAdd(ConfigMap cm) {
            post(() -> onConfigMap(cm));
          }

          @Override
          public void onUpdate(ConfigMap old, ConfigMap cm) {
            post(() -> onConfigMap(cm));
          }

          @Override
          public void onDelete(ConfigMap cm, boolean finalStateUnknown) {
            post(
                () -> {
                  problem = where + " was deleted";
                  log.warn("{} was deleted; {}", where, keeping());
                });
          }
        });
    Informers.start(informer, client, timeout, "watch " + where);
    log.info("watching {} (key {})", where, PlacementConfigMap.KEY);
    return this;
  }

  /**
   * Waits, at most {@code timeout}, for the first placement that covers the model and whose nodes
   * all have addresses; for a router that takes its initial placement from the ConfigMap.
   *
   * @throws IllegalStateException naming why there is none (no ConfigMap, invalid, pods not Ready)
   */
  public Placement awaitFirst(Duration timeout) throws InterruptedException {
    try {
      return first.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new IllegalStateException(
          "no usable placement from " + where + " within " + timeout + ": " + problem);
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
    }
  }

  /**
   * From now on hands every placement newer than {@code inUseVersion} to {@code applier}, one
   * rollout at a time; -1 when nothing is in use yet.
   */
  public void applyWith(Applier applier, long inUseVersion) {
    post(
        () -> {
          this.applier = applier;
          applied = Math.max(applied, inUseVersion);
          appliedVersion = applied;
          reconcile();
        });
  }

  /**
   * The newest version the applier put in use (or that was in use at {@link #applyWith}); -1 if
   * none.
   */
  public long appliedVersion() {
    return appliedVersion;
  }

  private void onConfigMap(ConfigMap cm) {
    Placement p;
    try {
      p = PlacementConfigMap.read(cm);
      p.checkCovers(moeLayers, numExperts);
    } catch (IllegalArgumentException e) {
      problem = where + ": " + e.getMessage();
      log.warn("{} ignored: {}; {}", where, e.getMessage(), keeping());
      return;
    }
    if (latest != null && p.version() == latest.version()) {
      if (!p.equals(latest)) {
        // A version names one placement; rolling out a changed one needs a new version to get past
        // the guardian.
        log.warn(
            "{} changed placement version {} without raising its version; ignored (publish it as a newer version)",
            where,
            p.version());
      }
      return;
    }
    if (p.version() <= applied) {
      log.info(
          "{} holds placement version {}, not newer than version {} in use; ignored",
          where,
          p.version(),
          applied);
      return;
    }
    latest = p;
    log.info("{}: placement version {} ({} expert nodes)", where, p.version(), p.nodes().size());
    reconcile();
  }

  /**
   * Rolls the latest version out when it is new, complete, and nothing else is rolling out or
   * backing off.
   */
  private void reconcile() {
    if (latest == null || latest.version() <= applied || inFlight) {
      return;
    }
    if (retry != null && !retry.isDone() && retryVersion == latest.version()) {
      return;
    }
    Placement filled = withAddresses(latest);
    if (filled == null) {
      return;
    }
    first.complete(filled);
    if (applier == null) {
      return;
    }
    inFlight = true;
    CompletionStage<?> rollout;
    try {
      rollout = applier.apply(filled);
    } catch (RuntimeException e) {
      rollout = CompletableFuture.failedFuture(e);
    }
    rollout.whenComplete((ok, failure) -> post(() -> rolledOut(filled.version(), failure)));
  }

  /**
   * The placement with every missing address filled from discovery, or null (logged once per
   * version) while a pod is not Ready.
   */
  private Placement withAddresses(Placement p) {
    List<Placement.Node> nodes = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    for (Placement.Node n : p.nodes()) {
      String address = n.address() != null ? n.address() : discovery.address(n.id());
      if (address == null) {
        missing.add(n.id());
      } else {
        nodes.add(n.withAddress(address));
      }
    }
    if (missing.isEmpty()) {
      return new Placement(p.version(), nodes);
    }
    problem = "placement version " + p.version() + " waits for Ready expert pods " + missing;
    if (waitingLogged != p.version()) {
      waitingLogged = p.version();
      log.info(
          "{}: placement version {} waits for Ready expert pods {} (node ids are pod names); {}",
          where,
          p.version(),
          missing,
          keeping());
    }
    return null;
  }

  private void rolledOut(long version, Throwable failure) {
    inFlight = false;
    if (failure == null) {
      failures = 0;
      applied = Math.max(applied, version);
      appliedVersion = applied;
      log.info("placement version {} from {} in use", version, where);
    } else {
      failures++;
      long delay =
          Math.min(MAX_RETRY.toMillis(), FIRST_RETRY.toMillis() << Math.min(failures - 1, 10));
      Throwable cause =
          failure instanceof CompletionException && failure.getCause() != null
              ? failure.getCause()
              : failure;
      log.warn(
          "placement version {} from {} not applied (attempt {}): {}; retrying in {} ms",
          version,
          where,
          failures,
          cause.getMessage(),
          delay);
      retryVersion = version;
      retry =
          executor.schedule(
              guarded(
                  () -> {
                    retry =
                        null; // still running, so not done: clear it or reconcile would think it is
                    // backing off
                    reconcile();
                  }),
              delay,
              TimeUnit.MILLISECONDS);
    }
    reconcile(); // a newer version may have arrived meanwhile
  }

  private String keeping() {
    return applied >= 0 ? "keeping placement version " + applied : "no placement in use yet";
  }

  private void post(Runnable task) {
    try {
      executor.execute(guarded(task));
    } catch (RejectedExecutionException e) {
      // closed: nothing more to do
    }
  }

  /** An exception in an executor task would vanish silently; log it instead. */
  private static Runnable guarded(Runnable task) {
    return () -> {
      try {
        task.run();
      } catch (RuntimeException e) {
        log.error("placement watcher failed", e);
      }
    };
  }

  /** Stops watching; a rollout already handed over finishes on its own. */
  @Override
  public synchronized void close() {
    discovery.removeListener(onDiscovery);
    if (informer != null) {
      informer.close();
    }
    executor.shutdownNow();
    first.completeExceptionally(
        new IllegalStateException("placement watcher for " + where + " closed"));
  }
}
