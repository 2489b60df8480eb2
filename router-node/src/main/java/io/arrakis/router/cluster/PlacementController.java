package io.arrakis.router.cluster;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The placement controller, one per router cluster (a cluster singleton): every interval it plans
 * from the cluster-wide load window ({@link Replan}) and publishes the new placement through its
 * {@link PlacementSink} when that is worth a rollout. One round at a time; a change of the
 * available expert nodes starts a round at once.
 */
public final class PlacementController extends AbstractBehavior<PlacementController.Command> {
  public sealed interface Command {}

  /**
   * Re-plan now (the timer sends it every interval; the sink's node listener when nodes change).
   */
  public record PlanNow() implements Command {}

  /** What the controller did last, for tests and operators. */
  public record GetStatus(ActorRef<Status> replyTo) implements Command {}

  /**
   * Where re-planning stands.
   *
   * @param rounds re-planning rounds finished
   * @param published the last version published; -1 if none
   * @param lastDecision the last round's reason (or failure)
   */
  public record Status(int rounds, long published, String lastDecision) {}

  private record Decided(Replan.Decision decision, Throwable failure) implements Command {}

  private record Published(long version, Throwable failure) implements Command {}

  /**
   * What the controller plans from and where it runs the planner.
   *
   * @param load the cluster-wide tokens per expert over the load window
   * @param planner where planning runs (it may take a while for large models: not on the actor's
   *     thread)
   */
  public record Setup(
      ClusterSettings.ControllerSettings settings,
      Supplier<Map<ExpertId, Long>> load,
      PlacementSink sink,
      List<Integer> moeLayers,
      int numExperts,
      Executor planner) {}

  private final Setup setup;
  private boolean busy;
  private boolean again;
  private int rounds;
  private long published = -1;
  private String lastDecision = "not planned yet";

  public static Behavior<Command> create(Setup setup) {
    return Behaviors.setup(
        ctx -> Behaviors.withTimers(timers -> new PlacementController(ctx, timers, setup)));
  }

  private PlacementController(
      ActorContext<Command> ctx, TimerScheduler<Command> timers, Setup setup) {
    super(ctx);
    this.setup = setup;
    timers.startTimerWithFixedDelay(new PlanNow(), setup.settings().interval());
    ActorRef<Command> self = ctx.getSelf();
    setup.sink().onNodesChanged(() -> self.tell(new PlanNow()));
    ctx.getLog()
        .info(
            "placement controller running here: re-plans every {} from the cluster-wide load, "
                + "publishes when predicted balance improves by more than {}%",
            setup.settings().interval(), 100 * setup.settings().minImprovement());
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(PlanNow.class, m -> onReplan())
        .onMessage(Decided.class, this::onDecided)
        .onMessage(Published.class, this::onPublished)
        .onMessage(
            GetStatus.class,
            m -> {
              m.replyTo().tell(new Status(rounds, published, lastDecision));
              return this;
            })
        .build();
  }

  private Behavior<Command> onReplan() {
    if (busy) {
      again = true; // e.g. nodes changed during a rollout: plan again right after it
      return this;
    }
    busy = true;
    Map<ExpertId, Long> load = setup.load().get();
    getContext()
        .pipeToSelf(
            setup
                .sink()
                .target()
                .thenCompose(t -> setup.sink().align(t.current()).thenApply(ok -> t))
                .thenApplyAsync(
                    t ->
                        Replan.decide(
                            t.current(),
                            load,
                            setup.moeLayers(),
                            setup.numExperts(),
                            t.nodes(),
                            setup.settings().slotsPerNode(),
                            setup.settings().minImprovement()),
                    setup.planner()),
            Decided::new);
    return this;
  }

  private Behavior<Command> onDecided(Decided m) {
    if (m.failure() != null) {
      return roundDone("re-planning failed: " + cause(m.failure()));
    }
    var d = m.decision();
    if (!d.publish()) {
      getContext().getLog().debug("placement kept: {}", d.reason());
      return roundDone("kept: " + d.reason());
    }
    Placement next = d.next();
    getContext().getLog().info("publishing placement version {}: {}", next.version(), d.reason());
    lastDecision = "publishing version " + next.version() + ": " + d.reason();
    CompletableFuture<?> done =
        setup
            .sink()
            .publish(next)
            .toCompletableFuture()
            .orTimeout(setup.settings().rolloutTimeout().toMillis(), TimeUnit.MILLISECONDS);
    getContext().pipeToSelf(done, (ok, failure) -> new Published(next.version(), failure));
    return this;
  }

  private Behavior<Command> onPublished(Published m) {
    if (m.failure() != null) {
      getContext()
          .getLog()
          .warn("placement version {} not published: {}", m.version(), cause(m.failure()));
      return roundDone("publishing version " + m.version() + " failed: " + cause(m.failure()));
    }
    published = m.version();
    getContext().getLog().info("placement version {} published", m.version());
    return roundDone("published version " + m.version());
  }

  private Behavior<Command> roundDone(String decision) {
    lastDecision = decision;
    rounds++;
    busy = false;
    if (again) {
      again = false;
      getContext().getSelf().tell(new PlanNow());
    }
    return this;
  }

  private static String cause(Throwable t) {
    Throwable c = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    return c instanceof TimeoutException ? "timed out" : String.valueOf(c.getMessage());
  }
}
