package io.arrakis.router.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.gating.Routing;
import io.arrakis.router.request.LayerOutcome;
import io.arrakis.router.request.RouterGuardian;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** A step's MoE layer handed to the router's dispatch path and its answer taken back. */
class ClusterExpertsTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static final int HIDDEN = 4;
  static final Routing TWO_TOKENS = new Routing(2, 1, new int[] {0, 1}, new float[] {1f, 1f});
  static final Duration WAIT = Duration.ofSeconds(10);

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void theLayersOutputLandsInTheStepsBuffer() {
    float[] output = {1, 2, 3, 4, 5, 6, 7, 8};
    float[] out = new float[2 * HIDDEN];

    CompletableFuture<Void> done = compute(new LayerOutcome.Succeeded(output, TWO_TOKENS), out);

    assertThat(done).succeedsWithin(WAIT);
    assertThat(out).containsExactly(output);
  }

  @Test
  void aFailedLayerFailsWithItsStatus() {
    CompletableFuture<Void> done =
        compute(
            new LayerOutcome.Failed(Status.UNAVAILABLE.withDescription("no expert node")),
            new float[2 * HIDDEN]);

    assertThat(done)
        .failsWithin(WAIT)
        .withThrowableOfType(Exception.class)
        .havingRootCause()
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
  }

  /**
   * A step waits on the layer: an answer that cannot be used fails it instead of leaving it open.
   */
  @Test
  void anAnswerThatCannotBeUsedFailsTheLayer() {
    CompletableFuture<Void> done =
        compute(new LayerOutcome.Succeeded(new float[1], TWO_TOKENS), new float[2 * HIDDEN]);

    assertThat(done)
        .failsWithin(WAIT)
        .withThrowableOfType(Exception.class)
        .havingRootCause()
        .isInstanceOf(ArrayIndexOutOfBoundsException.class);
  }

  /**
   * Layer 0 of two tokens through a dispatch path that answers every layer with {@code outcome}.
   */
  private static CompletableFuture<Void> compute(LayerOutcome outcome, float[] out) {
    ActorRef<RouterGuardian.Command> guardian =
        testKit.spawn(
            Behaviors.receiveMessage(
                m -> {
                  if (m instanceof RouterGuardian.RunLayer run) {
                    run.replyTo().tell(outcome);
                  }
                  return Behaviors.same();
                }));
    ClusterExperts experts =
        new ClusterExperts(guardian, testKit.scheduler(), HIDDEN, Duration.ofSeconds(5));
    return experts.compute(0, new float[2 * HIDDEN], TWO_TOKENS, out).toCompletableFuture();
  }
}
