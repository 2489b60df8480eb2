package io.arrakis.router.grpc;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.GenerateResponse;
import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.ModelInfo;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.request.Cancellation;
import io.arrakis.router.request.LayerJob;
import io.arrakis.router.request.LayerOutcome;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.serve.GenerationService;
import io.arrakis.router.serve.ServeSettings;
import io.arrakis.router.stats.RouterTelemetry;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * The public {@code arrakis.v1.Inference} service: Forward (one MoE layer), GetModel, and Generate
 * ({@link GenerateCalls}, on a router serving a whole model). Checks each Forward call on the
 * transport thread (layer, dtype, shape, sizes) and hands it to the actors; a client's mistake is
 * INVALID_ARGUMENT (RESOURCE_EXHAUSTED past a size limit), never UNKNOWN. What a call takes
 * (admission tokens, a coordinator, queued slices) it gives back when it is answered, when its
 * client cancels it, and at the latest at its deadline, which is never further away than {@code
 * max-deadline}.
 */
public final class InferenceService extends InferenceGrpc.InferenceImplBase {
  /** How long past the call's deadline to wait for the coordinator's own timeout reply. */
  private static final Duration ASK_MARGIN = Duration.ofSeconds(5);

  private final ActorSystem<RouterGuardian.Command> system;
  private final ModelInfo model;
  private final List<Integer> moeLayers;
  private final int maxRequestTokens;
  private final CallDeadline callDeadline;
  private final RouterTelemetry telemetry;
  private final TokenLimiter admission;
  private final GenerateCalls generate;

  /**
   * @param defaultDeadline for a call that comes without a deadline
   * @param maxDeadline the furthest deadline honoured: a client's later one is cut to it
   * @param generation generation of a whole model, or null when the router serves a layer-only
   *     model
   * @param serve deadlines of Generate calls and what their streams may buffer
   */
  public InferenceService(
      ActorSystem<RouterGuardian.Command> system,
      ModelInfo model,
      int maxRequestTokens,
      Duration defaultDeadline,
      Duration maxDeadline,
      RouterTelemetry telemetry,
      TokenLimiter admission,
      GenerationService generation,
      ServeSettings serve) {
    this.admission = admission;
    this.generate = new GenerateCalls(generation, serve);
    this.system = system;
    this.model = model;
    this.moeLayers = model.getMoeLayersList();
    this.maxRequestTokens = maxRequestTokens;
    this.callDeadline = new CallDeadline(defaultDeadline, maxDeadline);
    this.telemetry = telemetry;
  }

  /** The model as clients see it. */
  public static ModelInfo modelInfo(
      ModelConfig config, List<Integer> moeLayers, String weightsDtype) {
    return ModelInfo.newBuilder()
        .setNumLayers(config.numLayers())
        .setNumExperts(config.numExperts())
        .setHiddenSize(config.hiddenSize())
        .setIntermediateSize(config.intermediateSize())
        .setTopK(config.topK())
        .setNormTopkProb(config.normTopkProb())
        .setWeightsDtype(
            weightsDtype.equalsIgnoreCase("bf16") || weightsDtype.equalsIgnoreCase("bfloat16")
                ? DType.BFLOAT16
                : DType.FLOAT32)
        .addAllMoeLayers(moeLayers)
        .build();
  }

  @Override
  public void forward(ForwardRequest request, StreamObserver<ForwardResponse> out) {
    long start = System.nanoTime();
    int tokens;
    try {
      if (!moeLayers.contains(request.getLayer())) {
        throw new TensorCheckException(
            "layer "
                + Integer.toUnsignedString(request.getLayer())
                + " is not an MoE layer of this model (MoE layers: "
                + moeLayers
                + ")",
            false);
      }
      tokens =
          TensorChecks.checkActivations(
              "hidden_states", request.getHiddenStates(), model.getHiddenSize(), maxRequestTokens);
    } catch (TensorCheckException e) {
      refuse(
          out,
          (e.tooLarge() ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT)
              .withDescription(e.getMessage()));
      return;
    }
    long remaining = callDeadline.remainingNanos();
    if (remaining <= 0) {
      refuse(
          out,
          Status.DEADLINE_EXCEEDED.withDescription(
              "the call's deadline passed before it was served"));
      return;
    }
    if (!admission.tryAcquire(tokens)) {
      refuse(
          out,
          Status.RESOURCE_EXHAUSTED.withDescription(
              "router is at capacity: "
                  + admission.inFlight()
                  + " tokens in flight, limit "
                  + admission.limit()
                  + "; retry later"));
      return;
    }
    Cancellation cancellation = new Cancellation();
    Deadline clientDeadline = Context.current().getDeadline();
    ((ServerCallStreamObserver<ForwardResponse>) out)
        .setOnCancelHandler(
            () -> {
              // at its deadline the call is cancelled too: the coordinator's own timer answers
              // DEADLINE_EXCEEDED
              // then, which an adaptive limit reads as overload
              if (clientDeadline == null || !clientDeadline.isExpired()) {
                cancellation.cancel();
              }
            });
    LayerJob job =
        new LayerJob(
            request.getRequestId(),
            request.getLayer(),
            request.getHiddenStates(),
            tokens,
            start + remaining,
            start,
            cancellation,
            null); // gated here, as every Forward call
    CompletionStage<LayerOutcome> answer;
    try {
      answer =
          AskPattern.ask(
              system,
              r -> new RouterGuardian.RunLayer(job, r),
              Duration.ofNanos(remaining).plus(ASK_MARGIN),
              system.scheduler());
    } catch (
        RuntimeException e) { // whatever fails here, the tokens go back and the client hears of it
      answer = CompletableFuture.failedFuture(e);
    }
    UnaryReply.when(
        PekkoFutures.plain(answer)
            .whenComplete(
                (outcome, failure) ->
                    admission.release(tokens, System.nanoTime() - start, overloaded(outcome))),
        out,
        outcome -> {
          if (outcome instanceof LayerOutcome.Succeeded ok) {
            return response(request, ok, tokens);
          }
          throw ((LayerOutcome.Failed) outcome).status().asRuntimeException();
        },
        failure ->
            Status.INTERNAL.withDescription(
                "request " + request.getRequestId() + " got no answer: " + failure));
  }

  private void refuse(StreamObserver<ForwardResponse> out, Status s) {
    telemetry.error(s.getCode());
    out.onError(s.asRuntimeException());
  }

  private ForwardResponse response(ForwardRequest request, LayerOutcome.Succeeded ok, int tokens) {
    ForwardResponse.Builder resp =
        ForwardResponse.newBuilder()
            .setRequestId(request.getRequestId())
            .setOutput(TensorCodec.encodeFloat(ok.output(), tokens, model.getHiddenSize()));
    if (request.getReturnRouting()) {
      Routing r = ok.routing();
      resp.setTopkIds(TensorCodec.encodeInt(r.ids(), r.tokens(), r.k()))
          .setTopkWeights(TensorCodec.encodeFloat(r.weights(), r.tokens(), r.k()));
    }
    return resp.build();
  }

  /** Failures that say the cluster lacks capacity, which make an adaptive limit back off. */
  private static boolean overloaded(LayerOutcome outcome) {
    if (outcome instanceof LayerOutcome.Failed f) {
      Status.Code c = f.status().getCode();
      return c == Status.Code.RESOURCE_EXHAUSTED || c == Status.Code.DEADLINE_EXCEEDED;
    }
    return outcome == null;
  }

  @Override
  public void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
    generate.generate(request, out);
  }

  @Override
  public void getModel(GetModelRequest request, StreamObserver<ModelInfo> out) {
    out.onNext(model);
    out.onCompleted();
  }
}
