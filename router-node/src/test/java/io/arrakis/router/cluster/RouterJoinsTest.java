package io.arrakis.router.cluster;

import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RouterJoinsTest {
  private final ActorTestKit kit = ActorTestKit.create();

  @AfterEach
  void stop() {
    kit.shutdownTestKit();
  }

  @Test
  void aRouterJoiningStartsAPlacementRoundAndOneLeavingDoesNot() {
    TestProbe<PlacementController.Command> controller = kit.createTestProbe();
    kit.spawn(RouterJoins.create(controller.ref()));
    controller.expectNoMessage(Duration.ofMillis(300)); // no router yet

    TestProbe<RolloutReceiver.Rollout> first = kit.createTestProbe();
    kit.system().receptionist().tell(Receptionist.register(RolloutReceiver.KEY, first.ref()));
    controller.expectMessageClass(PlacementController.PlanNow.class);

    TestProbe<RolloutReceiver.Rollout> second = kit.createTestProbe();
    kit.system().receptionist().tell(Receptionist.register(RolloutReceiver.KEY, second.ref()));
    controller.expectMessageClass(PlacementController.PlanNow.class);

    second.stop(); // its receiver leaves the listing
    controller.expectNoMessage(Duration.ofMillis(500));
  }
}
