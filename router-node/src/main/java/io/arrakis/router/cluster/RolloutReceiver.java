package io.arrakis.router.cluster;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.request.PlacementApplier;
import io.grpc.Status;
import java.util.concurrent.CompletionException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * A router's door for placements published by the placement controller outside Kubernetes: it
 * registers with the cluster receptionist, rolls every placement out with the guardian's live
 * rollout (as {@code Cluster.SetPlacement} does) and says how it went.
 */
final class RolloutReceiver {
  public static final ServiceKey<Rollout> KEY =
      ServiceKey.create(Rollout.class, "arrakis-router-rollout");

  /** Roll {@code placement} (complete: every node has an address) out on this router. */
  public record Rollout(Placement placement, ActorRef<RolledOut> replyTo)
      implements ClusterSerializer.Serialized {}

  /**
   * A router's answer to a placement rollout.
   *
   * @param applied whether the router now routes by {@code version} (or newer)
   * @param problem why not; empty when applied
   */
  public record RolledOut(String routerId, long version, boolean applied, String problem)
      implements ClusterSerializer.Serialized {}

  private RolloutReceiver() {}

  public static Behavior<Rollout> create(String routerId, PlacementApplier applier) {
    return Behaviors.setup(
        ctx -> {
          ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
          return Behaviors.receiveMessage(
              m -> {
                long version = m.placement().version();
                applier
                    .bringTo(m.placement())
                    .whenComplete(
                        (ok, failure) ->
                            m.replyTo()
                                .tell(
                                    failure == null
                                        ? new RolledOut(routerId, version, true, "")
                                        : new RolledOut(
                                            routerId, version, false, describe(failure))));
                return Behaviors.same();
              });
        });
  }

  private static String describe(Throwable t) {
    Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    Status s = Status.fromThrowable(cause);
    return s.getCode() == Status.Code.UNKNOWN
        ? String.valueOf(cause.getMessage())
        : s.getCode() + ": " + s.getDescription();
  }
}
