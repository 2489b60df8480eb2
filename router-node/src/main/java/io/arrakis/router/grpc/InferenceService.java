package io.arrakis.router.grpc;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.ModelInfo;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.router.request.ForwardJob;
import io.arrakis.router.request.ForwardOutcome;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The public {@code arrakis.v1.Inference} service. Checks each call on the transport thread (layer,
 * dtype, shape, sizes) and hands it to the actors; a client's mistake is INVALID_ARGUMENT
 * (RESOURCE_EXHAUSTED past a size limit), never UNKNOWN.
 */
public final class InferenceService extends InferenceGrpc.InferenceImplBase {
  /** How long past the client's deadline to wait for the coordinator's own timeout reply. */
  private static final Duration ASK_MARGIN = Duration.ofSeconds(5);

  private final ActorSystem<RouterGuardian.Command> system;
  private final ModelInfo model;
  private final List<Integer> moeLayers;
  private final int maxRequestTokens;
  private final Duration defaultDeadline;
  private final RouterTelemetry telemetry;
  private final TokenLimiter admission;

  public InferenceService(ActorSystem<RouterGuardian.Command> system, ModelInfo model, int maxRequestTokens,
      Duration defaultDeadline, RouterTelemetry telemetry, TokenLimiter admission) {
    this.admission = admission;
    this.system = system;
    this.model = model;
    this.moeLayers = model.getMoeLayersList();
    this.maxRequestTokens = maxRequestTokens;
    this.defaultDeadline = defaultDeadline;
    this.telemetry = telemetry;
  }

  /** The model as clients see it. */
  public static ModelInfo modelInfo(ModelConfig config, List<Integer> moeLayers, String weightsDtype) {
    return ModelInfo.newBuilder()
        .setNumLayers(config.numLayers())
        .setNumExperts(config.numExperts())
        .setHiddenSize(config.hiddenSize())
        .setIntermediateSize(config.intermediateSize())
        .setTopK(config.topK())
        .setNormTopkProb(config.normTopkProb())
        .setWeightsDtype(weightsDtype.equalsIgnoreCase("bf16") || weightsDtype.equalsIgnoreCase("bfloat16")
            ? DType.BFLOAT16 : DType.FLOAT32)
        .addAllMoeLayers(moeLayers)
        .build();
  }

  @Override
  public void forward(ForwardRequest request, StreamObserver<ForwardResponse> out) {
    long start = System.nanoTime();
    int tokens;
    try {
      if (!moeLayers.contains(request.getLayer())) {
        throw new TensorCheckException("layer " + Integer.toUnsignedString(request.getLayer())
            + " is not an MoE layer of this model (MoE layers: " + moeLayers + ")", false);
      }
      tokens = TensorChecks.checkActivations("hidden_states", request.getHiddenStates(), model.getHiddenSize(),
          maxRequestTokens);
    } catch (TensorCheckException e) {
      Status s = (e.tooLarge() ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT).withDescription(e.getMessage());
      telemetry.error(s.getCode());
      out.onError(s.asRuntimeException());
      return;
    }
    if (!admission.tryAcquire(tokens)) {
      Status s = Status.RESOURCE_EXHAUSTED.withDescription("router is at capacity: " + admission.inFlight()
          + " tokens in flight, limit " + admission.limit() + "; retry later");
      telemetry.error(s.getCode());
      out.onError(s.asRuntimeException());
      return;
    }
    Deadline deadline = Context.current().getDeadline();
    long remaining = deadline != null ? deadline.timeRemaining(TimeUnit.NANOSECONDS) : defaultDeadline.toNanos();
    ForwardJob job = new ForwardJob(request, tokens, start + remaining, start);
    AskPattern.<RouterGuardian.Command, ForwardOutcome>ask(system, r -> new RouterGuardian.Forward(job, r),
            Duration.ofNanos(Math.max(0, remaining)).plus(ASK_MARGIN), system.scheduler())
        // answer on the thread that completes the ask: its plain whenComplete would run the callback
        // on the common pool, which with fewer than 3 cores means a new thread for every call
        .whenCompleteAsync((outcome, failure) -> {
          admission.release(tokens, System.nanoTime() - start, overloaded(outcome));
          if (failure != null) {
            out.onError(Status.INTERNAL.withDescription("request " + request.getRequestId() + " got no answer: " + failure)
                .asRuntimeException());
          } else if (outcome instanceof ForwardOutcome.Succeeded ok) {
            out.onNext(ok.response());
            out.onCompleted();
          } else {
            out.onError(((ForwardOutcome.Failed) outcome).status().asRuntimeException());
          }
        }, Runnable::run);
  }

  /** Failures that say the cluster lacks capacity, which make an adaptive limit back off. */
  private static boolean overloaded(ForwardOutcome outcome) {
    if (outcome instanceof ForwardOutcome.Failed f) {
      Status.Code c = f.status().getCode();
      return c == Status.Code.RESOURCE_EXHAUSTED || c == Status.Code.DEADLINE_EXCEEDED;
    }
    return outcome == null;
  }

  @Override
  public void getModel(GetModelRequest request, StreamObserver<ModelInfo> out) {
    out.onNext(model);
    out.onCompleted();
  }
}
