package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.request.PlacementOutcome;
import io.arrakis.router.request.RouterGuardian;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * Applies placements from the ConfigMap to this router with the guardian's live rollout, as
 * {@code Cluster.SetPlacement} does (the watcher has already checked coverage and addresses).
 *
 * <p>The guardian answers FAILED_PRECONDITION both for a version that is not newer and while another
 * rollout runs; only the first means there is nothing left to do, so the current version decides.
 */
public final class RouterApplier implements PlacementWatcher.Applier {
  /** Loading experts reads weights from disk; as long as SetPlacement gives it. */
  private static final Duration ROLLOUT_TIMEOUT = Duration.ofMinutes(3);
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

  private final ActorSystem<RouterGuardian.Command> system;

  public RouterApplier(ActorSystem<RouterGuardian.Command> system) {
    this.system = system;
  }

  @Override
  public CompletionStage<Void> apply(Placement placement) {
    return AskPattern.<RouterGuardian.Command, PlacementOutcome>ask(system,
            r -> new RouterGuardian.ApplyPlacement(placement, r), ROLLOUT_TIMEOUT, system.scheduler())
        .thenCompose(outcome -> {
          if (outcome instanceof PlacementOutcome.Refused refused) {
            return refused.status().getCode() == Status.Code.FAILED_PRECONDITION
                ? inUseAlready(placement.version(), refused.status())
                : CompletableFuture.failedFuture(refused.status().asRuntimeException());
          }
          return CompletableFuture.completedFuture(null);
        });
  }

  /** Done when the router already routes by {@code version} or newer; otherwise the refusal stands (retry later). */
  private CompletionStage<Void> inUseAlready(long version, Status refusal) {
    return AskPattern.<RouterGuardian.Command, Placement>ask(system, RouterGuardian.GetPlacement::new, ASK_TIMEOUT,
            system.scheduler())
        .thenCompose(current -> current.version() >= version
            ? CompletableFuture.<Void>completedFuture(null)
            : CompletableFuture.failedFuture(refusal.asRuntimeException()));
  }
}
