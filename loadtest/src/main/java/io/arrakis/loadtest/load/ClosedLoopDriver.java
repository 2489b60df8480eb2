package io.arrakis.loadtest.load;

import io.arrakis.proto.v1.GetModelRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.ModelInfo;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Closed-loop load: N callers, each sending its next Forward call as soon as the previous one is
 * answered, for a set duration; then a bounded drain, so that every call is accounted for. Node and
 * expert load come from the router's Cluster service for the measured window.
 */
public final class ClosedLoopDriver {
  private static final Duration RPC_TIMEOUT = Duration.ofSeconds(10);
  /** Past the call deadline, an answer can only be late by scheduling delays. */
  private static final Duration DRAIN_SLACK = Duration.ofSeconds(5);
  private static final int MAX_MESSAGE_BYTES = 64 << 20;

  private final LoadOptions options;
  private final float[] inputBias;

  /** @param inputBias the model's input bias (see {@link InputSampler}), or null for standard normal inputs */
  public ClosedLoopDriver(LoadOptions options, float[] inputBias) {
    this.options = options;
    this.inputBias = inputBias == null ? null : inputBias.clone();
  }

  public LoadResult run(Progress.Listener listener) throws InterruptedException {
    ManagedChannel channel = NettyChannelBuilder.forTarget(options.target()).usePlaintext()
        .maxInboundMessageSize(MAX_MESSAGE_BYTES).build();
    try {
      return run(channel, listener);
    } finally {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  LoadResult run(ManagedChannel channel, Progress.Listener listener) throws InterruptedException {
    ModelInfo info = modelInfo(channel);
    TargetModel model = TargetModel.of(info, inputBias);
    List<Integer> layers = layers(model);
    RequestPool pool = RequestPool.build(model, layers, options.tokens(), options.poolSize(), options.seed());
    InferenceGrpc.InferenceStub stub = InferenceGrpc.newStub(channel);
    long drainNanos = options.deadline().plus(DRAIN_SLACK).toNanos();
    try {
      if (!options.warmup().isZero()) {
        LoadRecorder discard = new LoadRecorder();
        runPhase("warm-up", options.warmup(), discard, new CallIssuer(stub, discard, options.deadline(), model.hidden()),
            pool, drainNanos, listener);
      }
      long since = System.currentTimeMillis();
      LoadRecorder recorder = new LoadRecorder();
      Phase phase = runPhase("load", options.duration(), recorder,
          new CallIssuer(stub, recorder, options.deadline(), model.hidden()), pool, drainNanos, listener);
      listener.finish();
      ClusterLoad load = null;
      String loadError = null;
      try {
        load = ClusterLoad.fetch(channel, since, RPC_TIMEOUT);
      } catch (StatusRuntimeException e) {
        loadError = "the router's Cluster service did not answer: " + e.getStatus().getCode()
            + (e.getStatus().getDescription() == null ? "" : " (" + e.getStatus().getDescription() + ")");
      }
      return new LoadResult("closed", options.target(), options.concurrency(), options.tokens(), layers,
          phase.elapsedSeconds(), recorder.sentCount(), recorder.okCount(), recorder.failedCount(), recorder.outstanding(),
          recorder.byStatus(), recorder.tokensOk(), recorder.totalLatencyMicros(), phase.timeline(), load, loadError,
          model.bias() != null);
    } finally {
      listener.finish();
    }
  }

  private Phase runPhase(String name, Duration duration, LoadRecorder recorder, CallIssuer issuer, RequestPool pool,
      long drainNanos, Progress.Listener listener) throws InterruptedException {
    Phase phase = new Phase(name, recorder, duration.toNanos());
    ScheduledExecutorService pauses = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "load-pause");
      t.setDaemon(true);
      return t;
    });
    try {
      for (int i = 0; i < options.concurrency(); i++) {
        new Caller(phase, issuer, pool, pauses).next();
      }
      phase.await(drainNanos, listener);
    } finally {
      pauses.shutdownNow();
    }
    return phase;
  }

  /**
   * One caller of the closed loop: one call in flight at a time, the next sent on the last one's
   * answer. After a failure it pauses briefly: a router that fails calls at once (down, or shedding
   * load) would otherwise meet a busy loop that takes the CPU it shares with the cluster.
   */
  private static final class Caller implements CallIssuer.Done {
    private static final long FAILURE_PAUSE_MS = 20;

    private final Phase phase;
    private final CallIssuer issuer;
    private final RequestPool pool;
    private final ScheduledExecutorService pauses;

    Caller(Phase phase, CallIssuer issuer, RequestPool pool, ScheduledExecutorService pauses) {
      this.phase = phase;
      this.issuer = issuer;
      this.pool = pool;
      this.pauses = pauses;
    }

    void next() {
      if (phase.sending()) {
        issuer.send(pool.next(), System.nanoTime(), this);
      }
    }

    @Override
    public void ended(boolean ok) {
      phase.answered();
      if (ok) {
        next();
        return;
      }
      try {
        pauses.schedule(this::next, FAILURE_PAUSE_MS, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException phaseOver) {
        // the phase has ended: nothing more to send
      }
    }
  }

  private ModelInfo modelInfo(ManagedChannel channel) {
    try {
      return InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(RPC_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
          .getModel(GetModelRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      throw new LoadException("cannot reach the router at " + options.target() + " (GetModel: " + e.getStatus().getCode()
          + (e.getStatus().getDescription() == null ? "" : ", " + e.getStatus().getDescription()) + ")");
    }
  }

  private List<Integer> layers(TargetModel model) {
    if (options.layers().isEmpty()) {
      return model.moeLayers();
    }
    for (int l : options.layers()) {
      if (!model.moeLayers().contains(l)) {
        throw new LoadException("layer " + l + " is not an MoE layer of the served model " + model.moeLayers());
      }
    }
    return options.layers();
  }
}
