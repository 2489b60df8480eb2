package io.arrakis.router.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds expert pods by label in one namespace and keeps, for each Ready pod, the address the router
 * should call it at. Listeners hear of every change of that map.
 *
 * <p>The address is the pod's stable DNS name {@code
 * <pod>.<headless-service>.<namespace>.svc:<port>} when the pod has one (StatefulSet pods do:
 * {@code spec.hostname} + {@code spec.subdomain}), and {@code <pod IP>:<port>} otherwise. The DNS
 * name is preferred because it survives a pod restart: the router keeps one client per node and
 * address and only learns a new address with a new placement version, so a pod IP would go stale
 * when the pod comes back with another IP, while gRPC re-resolves the name when it reconnects.
 * Readiness still matters: a node only gets an address once its pod is Ready (the headless Service
 * publishes no DNS record before that anyway).
 */
final class ExpertDiscovery implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ExpertDiscovery.class);

  private final KubernetesClient client;
  private final String namespace;
  private final String selector;
  private final int port;
  private final List<Consumer<Map<String, String>>> listeners = new CopyOnWriteArrayList<>();

  /** Guards updates of {@link #ready}, which readers see through the volatile without locking. */
  private final Object updates = new Object();

  private volatile Map<String, String> ready = Map.of();
  private SharedIndexInformer<Pod> informer;

  /**
   * @param selector a label selector as kubectl takes it, e.g. {@code
   *     app.kubernetes.io/component=expert}
   * @param port the experts' gRPC port
   */
  public ExpertDiscovery(KubernetesClient client, String namespace, String selector, int port) {
    this.client = client;
    this.namespace = namespace;
    this.selector = selector;
    this.port = port;
  }

  /**
   * Starts watching and waits, at most {@code timeout}, for the first list of pods.
   *
   * @throws IllegalStateException when the pods cannot be listed in time (no access, no API server)
   */
  public synchronized ExpertDiscovery start(Duration timeout) {
    if (informer != null) {
      throw new IllegalStateException("already started");
    }
    informer = client.pods().inNamespace(namespace).withLabelSelector(selector).runnableInformer(0);
    informer.addEventHandler(
        new ResourceEventHandler<Pod>() {
          @Override
          public void onAdd(Pod pod) {
            update(pod, false);
          }

          @Override
          public void onUpdate(Pod old, Pod pod) {
            update(pod, false);
          }

          @Override
          public void onDelete(Pod pod, boolean finalStateUnknown) {
            update(pod, true);
          }
        });
    Informers.start(
        informer, client, timeout, "list expert pods (" + selector + ") in namespace " + namespace);
    log.info("watching expert pods ({}) in namespace {}", selector, namespace);
    return this;
  }

  /** Ready expert pods: pod name → address (host:port), sorted by name. */
  public Map<String, String> addresses() {
    return ready;
  }

  /**
   * Expert pods that exist and are not being deleted, Ready or not: a placement node whose pod is
   * still here only restarts or waits for its readiness probe; one not here is leaving
   * (scale-down).
   */
  public Set<String> present() {
    Set<String> out = new TreeSet<>();
    SharedIndexInformer<Pod> i;
    synchronized (this) {
      i = informer;
    }
    if (i != null) {
      for (Pod p : i.getStore().list()) {
        if (p.getMetadata().getDeletionTimestamp() == null) {
          out.add(p.getMetadata().getName());
        }
      }
    }
    return out;
  }

  /** Where to reach the Ready pod {@code podName}, or null when there is no such Ready pod. */
  public String address(String podName) {
    return ready.get(podName);
  }

  /**
   * Told the new map (as {@link #addresses()}) after every change; runs on the informer's thread,
   * so keep it short.
   */
  public void addListener(Consumer<Map<String, String>> listener) {
    listeners.add(listener);
  }

  public void removeListener(Consumer<Map<String, String>> listener) {
    listeners.remove(listener);
  }

  /** Where a Ready pod is reached; null while it is not Ready or is being deleted. */
  static String addressOf(Pod pod, int port) {
    if (pod.getMetadata().getDeletionTimestamp() != null || !isReady(pod)) {
      return null;
    }
    var spec = pod.getSpec();
    if (spec != null && spec.getHostname() != null && spec.getSubdomain() != null) {
      return spec.getHostname()
          + "."
          + spec.getSubdomain()
          + "."
          + pod.getMetadata().getNamespace()
          + ".svc:"
          + port;
    }
    String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
    if (ip == null || ip.isEmpty()) {
      return null;
    }
    return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port;
  }

  /** Kubernetes' own notion: the pod's {@code Ready} condition is {@code True}. */
  static boolean isReady(Pod pod) {
    if (pod.getStatus() == null || pod.getStatus().getConditions() == null) {
      return false;
    }
    for (PodCondition c : pod.getStatus().getConditions()) {
      if ("Ready".equals(c.getType())) {
        return "True".equals(c.getStatus());
      }
    }
    return false;
  }

  /**
   * Informer events arrive one at a time; locked anyway so the map is never updated twice at once.
   */
  private void update(Pod pod, boolean deleted) {
    String name = pod.getMetadata().getName();
    String address = deleted ? null : addressOf(pod, port);
    Map<String, String> now;
    synchronized (updates) {
      if (Objects.equals(ready.get(name), address)) {
        return;
      }
      TreeMap<String, String> next = new TreeMap<>(ready);
      if (address == null) {
        next.remove(name);
        log.info("expert pod {} left discovery ({})", name, deleted ? "deleted" : "not ready");
      } else {
        next.put(name, address);
        log.info("expert pod {} ready at {}", name, address);
      }
      now = Collections.unmodifiableMap(next);
      ready = now;
    }
    for (Consumer<Map<String, String>> l : listeners) {
      try {
        l.accept(now);
      } catch (RuntimeException e) {
        log.warn("expert discovery listener failed: {}", e.toString());
      }
    }
  }

  /** Stops watching; the map keeps its last content. */
  @Override
  public synchronized void close() {
    if (informer != null) {
      informer.close();
    }
  }
}
