package io.arrakis.router.cluster;

import io.arrakis.model.placement.Placement;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Where the placement controller reads the placement in force and publishes the next one: the
 * placement ConfigMap on Kubernetes ({@code kubernetes.ConfigMapSink}), every router of the cluster
 * otherwise ({@link RouterRollouts}).
 */
public interface PlacementSink {
  /**
   * The placement in force and the expert nodes the next one may use.
   *
   * @param nodes id → address, null where discovery supplies it; nodes about to leave are not in it
   */
  record Target(Placement current, Map<String, String> nodes) {}

  CompletionStage<Target> target();

  /**
   * Completes once {@code next} is published (on Kubernetes: written; otherwise: in use on every
   * router).
   */
  CompletionStage<?> publish(Placement next);

  /**
   * Brings every router to {@code current} when some may lag (a router that joined late with an
   * older placement file); nothing to do where routers follow the placement themselves
   * (Kubernetes).
   */
  default CompletionStage<?> align(Placement current) {
    return CompletableFuture.completedFuture(null);
  }

  /**
   * Asks to be told when the available expert nodes change (so that joining and leaving nodes
   * re-plan at once).
   */
  default void onNodesChanged(Runnable listener) {}
}
