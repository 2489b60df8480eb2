package io.arrakis.router.request;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementVersions;
import io.arrakis.router.dispatch.ExpertClient;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.slf4j.Logger;

/**
 * The steps of the guardian's rollouts, apart from its actors: one rollout at a time, to newer
 * versions only; nodes load what they newly hold before the switch; what the old placement held and
 * the new one drops is unloaded only once no request of this router is still routed by the old one
 * and, in a router cluster, every other router is past it too (routers switch one by one, and a
 * node must not drop an expert another router still sends it).
 */
final class PlacementRollout {
  private final RolloutSettings settings;

  /** The placement being loaded; null when no rollout runs. */
  private Placement target;

  /**
   * The oldest version any other router still uses; until a first report, a clustered router
   * assumes all.
   */
  private long peersOldestInUse;

  PlacementRollout(RolloutSettings settings, boolean clustered) {
    this.settings = settings;
    this.peersOldestInUse = clustered ? Long.MIN_VALUE : Long.MAX_VALUE;
  }

  /** Why a rollout from {@code current} to {@code next} may not start now; null when it may. */
  Status refusal(Placement current, Placement next) {
    if (target != null) {
      return Status.FAILED_PRECONDITION.withDescription(
          "a rollout to placement version " + target.version() + " is in progress");
    }
    return PlacementVersions.refusal(current.version(), next.version())
        .map(Status.FAILED_PRECONDITION::withDescription)
        .orElse(null);
  }

  /**
   * Step 1: every node of {@code next} loads what it newly holds (routing stays as it is
   * meanwhile).
   *
   * @return the experts loaded; fails naming the node that could not load
   */
  CompletableFuture<Integer> load(
      Placement current, Placement next, Function<Placement.Node, ExpertClient> clients) {
    target = next;
    Map<String, List<ExpertId>> held = current.expertsByNode();
    List<CompletableFuture<Void>> loads = new ArrayList<>();
    int count = 0;
    for (Placement.Node node : next.nodes()) {
      List<ExpertId> added = new ArrayList<>(node.experts());
      added.removeAll(held.getOrDefault(node.id(), List.of()));
      if (!added.isEmpty()) {
        count += added.size();
        loads.add(
            clients
                .apply(node)
                .load(added, settings.timeout())
                .toCompletableFuture()
                .exceptionallyCompose(
                    e ->
                        CompletableFuture.failedFuture(
                            new IllegalStateException(
                                "expert node "
                                    + node.id()
                                    + " could not load "
                                    + added
                                    + ": "
                                    + Status.fromThrowable(e),
                                e))));
      }
    }
    int loaded = count;
    return CompletableFuture.allOf(loads.toArray(CompletableFuture[]::new)).thenApply(ok -> loaded);
  }

  /** The rollout's loads ended (whether or not the router switched). */
  void loadsEnded() {
    target = null;
  }

  /** Step 2's bookkeeping: what each node of {@code old} holds and {@code next} does not. */
  static Map<String, List<ExpertId>> dropped(Placement old, Placement next) {
    Map<String, List<ExpertId>> unload = new LinkedHashMap<>();
    Map<String, List<ExpertId>> kept = next.expertsByNode();
    old.expertsByNode()
        .forEach(
            (id, held) -> {
              List<ExpertId> dropped = new ArrayList<>(held);
              dropped.removeAll(kept.getOrDefault(id, List.of()));
              if (!dropped.isEmpty()) {
                unload.put(id, dropped);
              }
            });
    return unload;
  }

  void peersOldestInUse(long version) {
    peersOldestInUse = version;
  }

  /** Whether every other router is past {@code version}. */
  boolean peersPast(long version) {
    return peersOldestInUse > version;
  }

  /**
   * Step 3: nodes drop what a retired placement dropped, unless the current one holds it again or a
   * rollout in progress is loading it there (its loads may already have run).
   *
   * @param clients the retired placement's client of each node
   */
  void unload(
      Map<String, List<ExpertId>> dropped,
      Placement current,
      Function<String, ExpertClient> clients,
      Logger log) {
    Map<String, List<ExpertId>> stillHeld = current.expertsByNode();
    Map<String, List<ExpertId>> loading = target == null ? Map.of() : target.expertsByNode();
    dropped.forEach(
        (id, experts) -> {
          List<ExpertId> drop = new ArrayList<>(experts);
          drop.removeAll(stillHeld.getOrDefault(id, List.of()));
          drop.removeAll(loading.getOrDefault(id, List.of()));
          ExpertClient client = clients.apply(id);
          if (!drop.isEmpty() && client != null) {
            client
                .unload(drop, settings.unloadTimeout())
                .whenComplete(
                    (ok, e) -> {
                      if (e != null) {
                        log.warn("expert node {} did not unload {}: {}", id, drop, e.toString());
                      }
                    });
          }
        });
  }
}
