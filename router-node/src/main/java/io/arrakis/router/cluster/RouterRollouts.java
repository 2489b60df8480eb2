package io.arrakis.router.cluster;

import io.arrakis.model.placement.Placement;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.request.RouterGuardian;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * Publishing outside Kubernetes: the placement goes to every router of the cluster (found through
 * the receptionist, {@link RolloutReceiver}), each rolls it out, and the publication is done when
 * all have. The placement in force is this router's; the expert nodes are the current placement's.
 * Each round first sends it to every router again, so that a router that joined with an older
 * placement file catches up (a router joining starts a round: {@link RouterJoins}).
 */
public final class RouterRollouts implements PlacementSink {
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

  private final ActorSystem<RouterGuardian.Command> system;
  private final Duration rolloutTimeout;

  public RouterRollouts(ActorSystem<RouterGuardian.Command> system, Duration rolloutTimeout) {
    this.system = system;
    this.rolloutTimeout = rolloutTimeout;
  }

  @Override
  public CompletionStage<Target> target() {
    return PekkoFutures.plain(
            AskPattern.<RouterGuardian.Command, Placement>ask(
                system, RouterGuardian.GetPlacement::new, ASK_TIMEOUT, system.scheduler()))
        .thenApply(
            p -> {
              Map<String, String> nodes = new LinkedHashMap<>();
              p.nodes().forEach(n -> nodes.put(n.id(), n.address()));
              return new Target(p, nodes);
            });
  }

  /** Sends the placement in force to every router again: those already on it answer at once. */
  @Override
  public CompletionStage<?> align(Placement current) {
    return publish(current);
  }

  @Override
  public CompletionStage<?> publish(Placement next) {
    return PekkoFutures.plain(
            AskPattern.<Receptionist.Command, Receptionist.Listing>ask(
                system.receptionist(),
                r -> Receptionist.find(RolloutReceiver.KEY, r),
                ASK_TIMEOUT,
                system.scheduler()))
        .thenCompose(
            listing -> {
              List<CompletableFuture<RolloutReceiver.RolledOut>> replies = new ArrayList<>();
              for (ActorRef<RolloutReceiver.Rollout> router :
                  listing.getServiceInstances(RolloutReceiver.KEY)) {
                replies.add(
                    PekkoFutures.plain(
                        AskPattern.<RolloutReceiver.Rollout, RolloutReceiver.RolledOut>ask(
                            router,
                            r -> new RolloutReceiver.Rollout(next, r),
                            rolloutTimeout,
                            system.scheduler())));
              }
              if (replies.isEmpty()) {
                return CompletableFuture.failedFuture(
                    new IllegalStateException("no router registered for rollouts"));
              }
              return CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new))
                  .thenCompose(
                      ok -> {
                        List<String> refused = new ArrayList<>();
                        for (CompletableFuture<RolloutReceiver.RolledOut> f : replies) {
                          RolloutReceiver.RolledOut r = f.join();
                          if (!r.applied()) {
                            refused.add(r.routerId() + ": " + r.problem());
                          }
                        }
                        return refused.isEmpty()
                            ? CompletableFuture.completedFuture(replies.size())
                            : CompletableFuture.failedFuture(
                                new IllegalStateException(
                                    "placement version "
                                        + next.version()
                                        + " not in use on "
                                        + refused));
                      });
            });
  }
}
