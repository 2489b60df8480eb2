package io.arrakis.router.cluster;

import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * Starts a placement round whenever a router joins the cluster (its {@link RolloutReceiver} appears
 * in the receptionist). Every round first aligns all routers to the placement in force, so a router
 * started with an older placement file catches up at once instead of routing by it until the
 * controller's next interval (30 s by default), when experts its file names may already be gone
 * from their nodes. A router leaving starts nothing.
 */
final class RouterJoins {
  private RouterJoins() {}

  public static Behavior<Receptionist.Listing> create(
      ActorRef<PlacementController.Command> controller) {
    return Behaviors.setup(
        ctx -> {
          ctx.getSystem()
              .receptionist()
              .tell(Receptionist.subscribe(RolloutReceiver.KEY, ctx.getSelf()));
          return watching(controller, Set.of());
        });
  }

  private static Behavior<Receptionist.Listing> watching(
      ActorRef<PlacementController.Command> controller,
      Set<ActorRef<RolloutReceiver.Rollout>> known) {
    return Behaviors.receiveMessage(
        listing -> {
          Set<ActorRef<RolloutReceiver.Rollout>> now =
              listing.getServiceInstances(RolloutReceiver.KEY);
          if (!known.containsAll(now)) {
            controller.tell(new PlacementController.PlanNow());
          }
          return watching(controller, Set.copyOf(now));
        });
  }
}
