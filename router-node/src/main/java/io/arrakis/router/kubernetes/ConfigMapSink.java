package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.cluster.PlacementSink;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * The placement controller's sink on Kubernetes: the placement in force is the ConfigMap's, new
 * ones are written there ({@link PlacementPublisher}) and every router's {@link PlacementWatcher}
 * rolls them out. The expert nodes of the next placement are the StatefulSet's pods: Ready pods
 * join; a node already placed stays while its pod exists (a restart is not a departure), and leaves
 * once its pod is being deleted (scale-down), so its experts move before it stops.
 */
public final class ConfigMapSink implements PlacementSink {
  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final ExpertDiscovery discovery;
  private final PlacementPublisher publisher;

  /** Kubernetes calls block: they run here, never on an actor's thread. */
  private final Executor executor;

  public ConfigMapSink(
      KubernetesClient client,
      String namespace,
      String name,
      ExpertDiscovery discovery,
      Executor executor) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.discovery = discovery;
    this.publisher = new PlacementPublisher(client, namespace, name);
    this.executor = executor;
  }

  @Override
  public CompletionStage<Target> target() {
    return CompletableFuture.supplyAsync(
        () -> {
          var cm = client.configMaps().inNamespace(namespace).withName(name).get();
          if (cm == null) {
            throw new IllegalStateException(
                PlacementConfigMap.describe(namespace, name) + " does not exist");
          }
          Placement current = PlacementConfigMap.read(cm);
          return new Target(
              current, nodes(current, discovery.addresses().keySet(), discovery.present()));
        },
        executor);
  }

  /**
   * Ready pods, and nodes of {@code current} whose pods are still present; addresses left to
   * discovery.
   */
  static Map<String, String> nodes(Placement current, Set<String> ready, Set<String> present) {
    Map<String, String> out = new TreeMap<>();
    ready.forEach(id -> out.put(id, null));
    for (Placement.Node n : current.nodes()) {
      if (present.contains(n.id())) {
        out.put(n.id(), null);
      }
    }
    return out;
  }

  @Override
  public CompletionStage<?> publish(Placement next) {
    return CompletableFuture.supplyAsync(() -> publisher.publish(next), executor);
  }

  @Override
  public void onNodesChanged(Runnable listener) {
    discovery.addListener(ready -> listener.run());
  }
}
