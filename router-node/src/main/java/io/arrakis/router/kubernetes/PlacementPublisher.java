package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ConfigMapList;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.NonNamespaceOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.net.HttpURLConnection;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a placement into the placement ConfigMap (creating it when absent), for a placement
 * controller or {@code placement apply} on Kubernetes; every router's {@link PlacementWatcher} then
 * rolls it out.
 *
 * <p>Writes are optimistic: each one carries the resourceVersion it read, so a concurrent writer
 * makes it fail with 409 Conflict instead of being overwritten; the publisher then reads again and
 * retries, a bounded number of times. A newer version already in the ConfigMap is never replaced by
 * an older one, so two controllers cannot roll the cluster back.
 */
public final class PlacementPublisher {
  private static final Logger log = LoggerFactory.getLogger(PlacementPublisher.class);
  static final int DEFAULT_ATTEMPTS = 5;

  public enum Result {
    CREATED,
    UPDATED,
    /** The ConfigMap already held this very placement. */
    UNCHANGED
  }

  /**
   * The ConfigMap holds a newer version, or this version with other content: publishing would roll
   * back or fork it.
   */
  public static final class StalePlacementException extends IllegalStateException {
    StalePlacementException(String message) {
      super(message);
    }
  }

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final String where;
  private final int maxAttempts;

  public PlacementPublisher(KubernetesClient client, String namespace, String name) {
    this(client, namespace, name, DEFAULT_ATTEMPTS);
  }

  /**
   * @param maxAttempts writes tried before giving up when others keep changing the ConfigMap
   */
  public PlacementPublisher(
      KubernetesClient client, String namespace, String name, int maxAttempts) {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be at least 1");
    }
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.where = PlacementConfigMap.describe(namespace, name);
    this.maxAttempts = maxAttempts;
  }

  /**
   * The placement now in the ConfigMap; empty when there is no ConfigMap.
   *
   * @throws IllegalArgumentException when the ConfigMap holds no valid placement
   */
  public Optional<Placement> current() {
    ConfigMap cm = resource().get();
    if (cm == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(PlacementConfigMap.read(cm));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
  }

  /**
   * Publishes {@code placement}: creates the ConfigMap, or replaces its placement (other keys and
   * metadata are kept).
   *
   * @throws StalePlacementException when the ConfigMap holds a newer version, or this version with
   *     other content
   * @throws IllegalStateException when the ConfigMap kept changing under every attempt
   * @throws KubernetesClientException for any other refusal of the API server (e.g. no permission)
   */
  public Result publish(Placement placement) {
    String json = PlacementJson.write(placement);
    for (int attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        ConfigMap current = resource().get();
        if (current == null) {
          configMaps()
              .resource(
                  new ConfigMapBuilder()
                      .withNewMetadata()
                      .withName(name)
                      .withNamespace(namespace)
                      .addToLabels("app.kubernetes.io/part-of", "arrakis")
                      .endMetadata()
                      .addToData(PlacementConfigMap.KEY, json)
                      .build())
              .create();
          log.info("{} created with placement version {}", where, placement.version());
          return Result.CREATED;
        }
        if (holdsAlready(current, placement)) {
          return Result.UNCHANGED;
        }
        // The builder copies metadata.resourceVersion: the API server refuses the write if anyone
        // wrote in between.
        ConfigMap next =
            new ConfigMapBuilder(current).addToData(PlacementConfigMap.KEY, json).build();
        configMaps().resource(next).update();
        log.info("{} updated to placement version {}", where, placement.version());
        return Result.UPDATED;
      } catch (KubernetesClientException e) {
        if (e.getCode() != HttpURLConnection.HTTP_CONFLICT) {
          throw e;
        }
        // Conflict on update (someone wrote since we read) or AlreadyExists on create (someone
        // created it).
        log.info("{} changed concurrently (attempt {} of {})", where, attempt, maxAttempts);
        if (attempt < maxAttempts) {
          pause(attempt);
        }
      }
    }
    throw new IllegalStateException(
        where
            + " changed concurrently "
            + maxAttempts
            + " times; placement version "
            + placement.version()
            + " not published");
  }

  /**
   * True when {@code current} holds this very placement; throws when it holds a newer or a
   * different one of this version.
   */
  private boolean holdsAlready(ConfigMap current, Placement placement) {
    Placement there;
    try {
      there = PlacementConfigMap.read(current);
    } catch (IllegalArgumentException e) {
      log.warn("{} holds no valid placement ({}); replacing it", where, e.getMessage());
      return false;
    }
    if (there.version() > placement.version()) {
      throw new StalePlacementException(
          where
              + " already holds placement version "
              + there.version()
              + ", newer than "
              + placement.version());
    }
    if (there.version() == placement.version()) {
      if (there.equals(placement)) {
        return true;
      }
      throw new StalePlacementException(
          where
              + " already holds a different placement version "
              + there.version()
              + "; publish changes under a newer version");
    }
    return false;
  }

  private NonNamespaceOperation<ConfigMap, ConfigMapList, Resource<ConfigMap>> configMaps() {
    return client.configMaps().inNamespace(namespace);
  }

  private Resource<ConfigMap> resource() {
    return configMaps().withName(name);
  }

  /** A short, growing, jittered pause so that competing writers do not collide again in step. */
  private static void pause(int attempt) {
    try {
      Thread.sleep(ThreadLocalRandom.current().nextLong(10, 50L * attempt + 11));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while publishing a placement", e);
    }
  }
}
