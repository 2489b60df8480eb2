package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.request.PlacementApplier;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * A router's Kubernetes side ({@code arrakis router --kubernetes}): expert discovery and the
 * placement watcher over one client, started and closed together. The router starts from the first
 * usable placement in the ConfigMap and then follows it.
 */
public final class KubernetesPlacementSource implements AutoCloseable {
  /** Where Kubernetes tells a pod its namespace. */
  public static final Path POD_NAMESPACE_FILE =
      Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");

  /** How long the API server may take to list pods and the ConfigMap at start. */
  private static final Duration API_TIMEOUT = Duration.ofSeconds(30);

  /**
   * Where to find the expert pods.
   *
   * @param namespace null: this pod's namespace, else the client's (KUBECONFIG context), else
   *     "default"
   * @param expertSelector label selector of the expert pods
   * @param expertPort their gRPC port
   */
  public record Options(
      String namespace, String configMap, String expertSelector, int expertPort) {}

  private final KubernetesClient client;
  private final boolean ownsClient;
  private final String namespace;
  private final ExpertDiscovery discovery;
  private final PlacementWatcher watcher;

  private KubernetesPlacementSource(
      KubernetesClient client,
      boolean ownsClient,
      String namespace,
      ExpertDiscovery discovery,
      PlacementWatcher watcher) {
    this.client = client;
    this.ownsClient = ownsClient;
    this.namespace = namespace;
    this.discovery = discovery;
    this.watcher = watcher;
  }

  /**
   * Connects with fabric8's default configuration (the pod's service account in a cluster, else
   * KUBECONFIG or ~/.kube/config) and starts watching.
   *
   * @param moeLayers and {@code numExperts}: the model placements must cover
   */
  public static KubernetesPlacementSource connect(
      Options options, List<Integer> moeLayers, int numExperts) {
    KubernetesClient client = new KubernetesClientBuilder().build();
    try {
      return start(client, true, options, moeLayers, numExperts);
    } catch (RuntimeException e) {
      client.close();
      throw e;
    }
  }

  /**
   * Starts watching with {@code client} (e.g. a test's); closes it on {@link #close()} when {@code
   * ownsClient}.
   */
  public static KubernetesPlacementSource start(
      KubernetesClient client,
      boolean ownsClient,
      Options options,
      List<Integer> moeLayers,
      int numExperts) {
    String ns =
        options.namespace() != null
            ? options.namespace()
            : defaultNamespace(POD_NAMESPACE_FILE, client);
    ExpertDiscovery discovery =
        new ExpertDiscovery(client, ns, options.expertSelector(), options.expertPort());
    PlacementWatcher watcher =
        new PlacementWatcher(client, ns, options.configMap(), discovery, moeLayers, numExperts);
    try {
      discovery.start(API_TIMEOUT);
      watcher.start(API_TIMEOUT);
    } catch (RuntimeException e) {
      watcher.close();
      discovery.close();
      throw e;
    }
    return new KubernetesPlacementSource(client, ownsClient, ns, discovery, watcher);
  }

  /**
   * The pod's own namespace when running in one, else the client's configured one, else "default".
   */
  static String defaultNamespace(Path podNamespaceFile, KubernetesClient client) {
    try {
      if (Files.isReadable(podNamespaceFile)) {
        String ns = Files.readString(podNamespaceFile).trim();
        if (!ns.isEmpty()) {
          return ns;
        }
      }
    } catch (IOException e) {
      // not in a pod after all: fall through
    }
    String configured = client.getNamespace();
    return configured == null || configured.isBlank() ? "default" : configured;
  }

  public String namespace() {
    return namespace;
  }

  /**
   * The first placement from the ConfigMap that covers the model and whose every node has an
   * address (waiting for expert pods to be Ready).
   *
   * @throws IllegalStateException naming what is missing after {@code timeout}
   */
  public Placement awaitInitial(Duration timeout) throws InterruptedException {
    return watcher.awaitFirst(timeout);
  }

  /** From now on rolls every newer version out with {@code applier} (the router's). */
  public void applyTo(PlacementApplier applier, long inUseVersion) {
    watcher.applyWith(applier::bringTo, inUseVersion);
  }

  /**
   * The placement controller's sink: this ConfigMap, the expert pods of this discovery; blocking
   * calls on {@code executor}.
   */
  public ConfigMapSink sink(String configMap, Executor executor) {
    return new ConfigMapSink(client, namespace, configMap, discovery, executor);
  }

  /** The newest placement version this source put in use (or found in use); -1 if none. */
  public long appliedVersion() {
    return watcher.appliedVersion();
  }

  /** Stops the informers, then the client if this source made it. */
  @Override
  public void close() {
    watcher.close();
    discovery.close();
    if (ownsClient) {
      client.close();
    }
  }
}
