package io.arrakis.loadtest.load;

import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.ModelInfo;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** What every driver asks the router first: the model it serves and which of its layers to load. */
final class TargetSetup {
  static final Duration RPC_TIMEOUT = Duration.ofSeconds(10);

  private static final int MAX_MESSAGE_BYTES = 64 << 20;

  private TargetSetup() {}

  /** What a driver does over one channel to the target. */
  interface OnChannel {
    LoadResult run(ManagedChannel channel) throws InterruptedException;
  }

  /**
   * Runs {@code body} over a channel to the run's target (TLS and token as it says), closed
   * afterwards.
   */
  static LoadResult withChannel(LoadOptions options, OnChannel body) throws InterruptedException {
    ManagedChannel channel;
    try {
      channel =
          options
              .security()
              .channelBuilder(options.target())
              .maxInboundMessageSize(MAX_MESSAGE_BYTES)
              .build();
    } catch (IOException e) {
      throw new LoadException(e.getMessage());
    }
    try {
      return body.run(channel);
    } finally {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  static ModelInfo modelInfo(Channel channel, LoadOptions options) {
    try {
      return InferenceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(RPC_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
          .getModel(GetModelRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      throw new LoadException(
          "cannot reach the router at "
              + options.target()
              + " (GetModel: "
              + e.getStatus().getCode()
              + (e.getStatus().getDescription() == null
                  ? ""
                  : ", " + e.getStatus().getDescription())
              + ")"
              + RouterHints.of(e.getStatus(), options.security()));
    }
  }

  /** The requested layers, checked against the model; every MoE layer when none was requested. */
  static List<Integer> layers(TargetModel model, List<Integer> requested) {
    if (requested.isEmpty()) {
      return model.moeLayers();
    }
    for (int l : requested) {
      if (!model.moeLayers().contains(l)) {
        throw new LoadException(
            "layer " + l + " is not an MoE layer of the served model " + model.moeLayers());
      }
    }
    return requested;
  }

  /**
   * The served model, the layers to load and the requests to send, as every driver prepares them.
   */
  record Target(
      TargetModel model, List<Integer> layers, RequestPool pool, InferenceGrpc.InferenceStub stub) {
    static Target prepare(ManagedChannel channel, LoadOptions options, float[] inputBias) {
      TargetModel model = TargetModel.of(TargetSetup.modelInfo(channel, options), inputBias);
      List<Integer> layers = TargetSetup.layers(model, options.layers());
      return new Target(
          model,
          layers,
          RequestPool.build(model, layers, options.tokens(), options.poolSize(), options.seed()),
          InferenceGrpc.newStub(channel));
    }

    /**
     * Runs the warm-up (its calls recorded apart and dropped) and the measured phase, then asks the
     * router for its view of the window; every driver measures this way.
     *
     * @param mode "closed" or "open"
     */
    LoadResult measure(
        ManagedChannel channel,
        LoadOptions options,
        String mode,
        int concurrency,
        double ratePerSecond,
        PhaseRunner phases,
        Progress.Listener listener)
        throws InterruptedException {
      try {
        if (!options.warmup().isZero()) {
          phases.run("warm-up", options.warmup(), new LoadRecorder());
        }
        long since = System.currentTimeMillis();
        LoadRecorder recorder = new LoadRecorder();
        Phase phase = phases.run("load", options.duration(), recorder);
        listener.finish();
        Load load = Load.fetch(channel, since, options);
        return LoadResult.of(
            mode,
            options,
            concurrency,
            ratePerSecond,
            layers,
            phase,
            recorder,
            load,
            model.bias() != null);
      } finally {
        listener.finish();
      }
    }
  }

  /** One phase of a driver's run: its name, length and where its calls are recorded. */
  @FunctionalInterface
  interface PhaseRunner {
    Phase run(String name, Duration length, LoadRecorder recorder) throws InterruptedException;
  }

  /**
   * The router's view of the window, or why it could not be had (the run's figures stand either
   * way).
   */
  record Load(ClusterLoad load, String error) {
    static Load fetch(Channel channel, long sinceUnixMs, LoadOptions options) {
      try {
        return new Load(ClusterLoad.fetch(channel, sinceUnixMs, RPC_TIMEOUT), null);
      } catch (StatusRuntimeException e) {
        return new Load(
            null,
            "the router's Cluster service did not answer: "
                + e.getStatus().getCode()
                + (e.getStatus().getDescription() == null
                    ? ""
                    : " (" + e.getStatus().getDescription() + ")")
                + RouterHints.admin(e.getStatus(), options.security()));
      }
    }
  }
}
