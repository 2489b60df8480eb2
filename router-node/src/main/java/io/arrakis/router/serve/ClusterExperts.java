package io.arrakis.router.serve;

import io.arrakis.engine.experts.RoutedExperts;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.request.Cancellation;
import io.arrakis.router.request.LayerJob;
import io.arrakis.router.request.LayerOutcome;
import io.arrakis.router.request.RouterGuardian;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The routed experts of a step on the expert nodes: each MoE layer's rows, already gated by the
 * engine, go to the router's dispatch path as one {@link LayerJob} (one fan-out: a token crosses to
 * a node once with all its experts there, partial sums added in node-id order, replicas, one retry
 * elsewhere, per-node batching with other steps' and Forward calls' slices). Cancelling the
 * returned future cancels the job (its slices withdrawn). A failure completes it exceptionally with
 * the job's status.
 */
final class ClusterExperts implements RoutedExperts {
  /** How long past a layer's deadline to wait for the coordinator's own timeout answer. */
  private static final Duration ASK_MARGIN = Duration.ofSeconds(5);

  private final ActorRef<RouterGuardian.Command> guardian;
  private final Scheduler scheduler;
  private final int hidden;
  private final Duration layerTimeout;

  public ClusterExperts(
      ActorRef<RouterGuardian.Command> guardian,
      Scheduler scheduler,
      int hidden,
      Duration layerTimeout) {
    this.guardian = guardian;
    this.scheduler = scheduler;
    this.hidden = hidden;
    this.layerTimeout = layerTimeout;
  }

  @Override
  public CompletionStage<Void> compute(int layer, float[] x, Routing routing, float[] out) {
    int n = routing.tokens();
    long now = System.nanoTime();
    Cancellation cancellation = new Cancellation();
    LayerJob job =
        new LayerJob(
            "generate step, layer " + layer,
            layer,
            TensorCodec.encodeFloat(x, n, hidden),
            n,
            now + layerTimeout.toNanos(),
            now,
            cancellation,
            routing);
    CompletableFuture<Void> done = new CompletableFuture<>();
    PekkoFutures.plain(
            AskPattern.<RouterGuardian.Command, LayerOutcome>ask(
                guardian,
                r -> new RouterGuardian.RunLayer(job, r),
                layerTimeout.plus(ASK_MARGIN),
                scheduler))
        .whenComplete((outcome, failure) -> settle(done, outcome, failure, out, n * hidden));
    done.whenComplete(
        (v, e) -> {
          if (done.isCancelled()) {
            cancellation.cancel();
          }
        });
    return done;
  }

  /**
   * Completes the layer from the dispatch path's answer, always: a step waits on it, and an answer
   * it cannot use (a bug) must fail the step rather than leave its lane waiting forever.
   */
  private static void settle(
      CompletableFuture<Void> done,
      LayerOutcome outcome,
      Throwable failure,
      float[] out,
      int values) {
    try {
      if (failure != null) {
        done.completeExceptionally(failure);
      } else if (outcome instanceof LayerOutcome.Succeeded ok) {
        System.arraycopy(ok.output(), 0, out, 0, values);
        done.complete(null);
      } else {
        done.completeExceptionally(((LayerOutcome.Failed) outcome).status().asRuntimeException());
      }
    } catch (RuntimeException e) {
      done.completeExceptionally(
          Status.INTERNAL
              .withDescription("the layer's answer could not be used: " + e)
              .withCause(e)
              .asRuntimeException());
    }
  }
}
