package io.arrakis.router.request;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.pekko.PekkoFutures;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The one way placements reach this router's guardian, whoever brings them ({@code
 * Cluster.SetPlacement}, the Kubernetes ConfigMap watcher, the placement controller's rollouts):
 * checked against the model, every node with an address, then rolled out live, with one timeout.
 */
public final class PlacementApplier {
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

  private final ActorSystem<RouterGuardian.Command> system;
  private final List<Integer> moeLayers;
  private final int numExperts;
  private final RolloutSettings settings;

  public PlacementApplier(
      ActorSystem<RouterGuardian.Command> system,
      List<Integer> moeLayers,
      int numExperts,
      RolloutSettings settings) {
    this.system = system;
    this.moeLayers = List.copyOf(moeLayers);
    this.numExperts = numExperts;
    this.settings = settings;
  }

  /**
   * Checks {@code placement}: it covers every expert of the model and every node has an address.
   *
   * @throws IllegalArgumentException saying what is wrong
   */
  public void check(Placement placement) {
    placement.checkCovers(moeLayers, numExperts);
    for (Placement.Node n : placement.nodes()) {
      if (n.address() == null) {
        throw new IllegalArgumentException("node '" + n.id() + "' has no address (host:port)");
      }
    }
  }

  /**
   * Checks and rolls out {@code placement}.
   *
   * @return how it went; fails with a {@link io.grpc.StatusRuntimeException}: INVALID_ARGUMENT (the
   *     checks), FAILED_PRECONDITION (not newer, or another rollout runs), UNAVAILABLE (a node
   *     could not load, or the router did not answer)
   */
  public CompletionStage<PlacementOutcome.Applied> apply(Placement placement) {
    try {
      check(placement);
    } catch (IllegalArgumentException e) {
      return CompletableFuture.failedFuture(
          Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
    }
    return PekkoFutures.plain(
            AskPattern.<RouterGuardian.Command, PlacementOutcome>ask(
                system,
                r -> new RouterGuardian.ApplyPlacement(placement, r),
                settings.answerWithin(),
                system.scheduler()))
        .handle(
            (outcome, failure) -> {
              if (failure != null) {
                throw Status.UNAVAILABLE
                    .withDescription(
                        "router did not answer within " + settings.answerWithin() + ": " + failure)
                    .asRuntimeException();
              }
              if (outcome instanceof PlacementOutcome.Refused refused) {
                throw refused.status().asRuntimeException();
              }
              return (PlacementOutcome.Applied) outcome;
            });
  }

  /**
   * As {@link #apply}, for followers of a placement source that may hand the same version again (a
   * ConfigMap, the controller re-sending the placement in force): done once the router routes by
   * this version or a newer one. A refusal for another rollout in progress stands (try later).
   */
  public CompletionStage<Void> bringTo(Placement placement) {
    return apply(placement)
        .handle((ok, failure) -> failure)
        .thenCompose(
            failure -> {
              if (failure == null) {
                return CompletableFuture.completedFuture(null);
              }
              Status s = Status.fromThrowable(failure);
              if (s.getCode() != Status.Code.FAILED_PRECONDITION) {
                return CompletableFuture.failedFuture(failure);
              }
              return PekkoFutures.plain(
                      AskPattern.<RouterGuardian.Command, Placement>ask(
                          system,
                          RouterGuardian.GetPlacement::new,
                          ASK_TIMEOUT,
                          system.scheduler()))
                  .thenCompose(
                      current ->
                          current.version() >= placement.version()
                              ? CompletableFuture.<Void>completedFuture(null)
                              : CompletableFuture.failedFuture(failure));
            });
  }
}
