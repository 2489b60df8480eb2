package io.arrakis.expert.grpc;

import io.arrakis.expert.compute.BatchValidator;
import io.arrakis.expert.compute.ComputeExecutor;
import io.arrakis.expert.compute.PreparedBatch;
import io.arrakis.expert.metrics.ExpertMetrics;
import io.arrakis.expert.store.ExpertStore;
import io.arrakis.model.kernel.backend.DeviceMemoryException;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.ExpertRef;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.LoadExpertsResponse;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.arrakis.proto.v1.UnloadExpertsResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Expert service: checks each Compute call on the transport thread, then computes it on the
 * bounded compute executor. A client's mistake is INVALID_ARGUMENT (RESOURCE_EXHAUSTED past a size
 * limit or a full queue), never UNKNOWN. Failed calls are counted where they close ({@link
 * ErrorCounter}); what only the service sees (queue wait, compute time, tokens) is recorded here.
 * Rows come as FLOAT32 or BFLOAT16 and the partial sums go back in the same dtype; {@code Describe}
 * says what a router must know to send batches this node takes (rows and bytes per call, compute
 * dtype).
 */
public final class ExpertService extends ExpertGrpc.ExpertImplBase {
  private static final Logger log = LoggerFactory.getLogger(ExpertService.class);

  private final String nodeId;
  private final ExpertStore store;
  private final BatchValidator validator;
  private final ComputeExecutor executor;
  private final Capacity capacity;
  private final ExpertMetrics metrics;

  /**
   * What one Compute call may carry, as Describe says it.
   *
   * @param maxRequestBytes the node's inbound message limit
   * @param computeDtype FLOAT32 on the CPU backend; BFLOAT16 for a device computing in bf16
   */
  public record Capacity(int maxBatchTokens, long maxRequestBytes, DType computeDtype) {}

  public ExpertService(
      String nodeId,
      ExpertStore store,
      ComputeExecutor executor,
      Capacity capacity,
      ExpertMetrics metrics) {
    this.nodeId = nodeId;
    this.store = store;
    this.validator = new BatchValidator(store, capacity.maxBatchTokens());
    this.executor = executor;
    this.capacity = capacity;
    this.metrics = metrics;
  }

  @Override
  public void compute(ComputeRequest request, StreamObserver<ComputeResponse> out) {
    PreparedBatch batch;
    try {
      batch = validator.prepare(request);
    } catch (TensorCheckException e) {
      out.onError(statusOf(e).asRuntimeException());
      return;
    }
    Context context = Context.current();
    long enqueued = System.nanoTime();
    try {
      executor.execute(context.wrap(() -> run(batch, enqueued, context, out)));
    } catch (RejectedExecutionException e) {
      out.onError(
          Status.RESOURCE_EXHAUSTED
              .withDescription(
                  "expert node "
                      + nodeId
                      + " is at capacity: "
                      + executor.threads()
                      + " batches computing and "
                      + executor.queueCapacity()
                      + " waiting")
              .asRuntimeException());
    }
  }

  private void run(
      PreparedBatch batch, long enqueued, Context context, StreamObserver<ComputeResponse> out) {
    long started = System.nanoTime();
    metrics.dequeued(started - enqueued);
    if (context.isCancelled()) {
      metrics.abandoned();
      return; // the caller gave up (deadline or cancel) while the batch waited: skip the work
    }
    try {
      ComputeResponse response =
          ComputeResponse.newBuilder()
              .setBatchId(batch.batchId())
              .setPartialSums(store.backend().compute(batch.hiddenStates(), batch.work()))
              .build();
      metrics.computed(batch, System.nanoTime() - started);
      out.onNext(response);
      out.onCompleted();
    } catch (TensorCheckException e) {
      out.onError(statusOf(e).asRuntimeException());
    } catch (RuntimeException e) {
      log.error("batch {} failed", batch.batchId(), e);
      out.onError(
          Status.INTERNAL
              .withDescription("compute failed on " + nodeId + ": " + e)
              .asRuntimeException());
    }
  }

  @Override
  public void describe(DescribeRequest request, StreamObserver<NodeDescription> out) {
    out.onNext(
        NodeDescription.newBuilder()
            .setNodeId(nodeId)
            .addAllExperts(refs(store.held()))
            .setDevice(store.backend().device())
            .setHiddenSize(store.hiddenSize())
            .setComputeThreads(executor.threads())
            .setQueueCapacity(executor.queueCapacity())
            .setMaxBatchTokens(capacity.maxBatchTokens())
            .setMaxRequestBytes(capacity.maxRequestBytes())
            .setComputeDtype(capacity.computeDtype())
            .build());
    out.onCompleted();
  }

  @Override
  public void loadExperts(LoadExpertsRequest request, StreamObserver<LoadExpertsResponse> out) {
    List<ExpertId> ids = checked(request.getExpertsList(), out);
    if (ids == null) {
      return;
    }
    try {
      store.load(ids);
    } catch (DeviceMemoryException e) {
      out.onError(
          Status.RESOURCE_EXHAUSTED
              .withDescription("loading experts on " + nodeId + ": " + e.getMessage())
              .asRuntimeException());
      return;
    } catch (Exception e) {
      log.error("loading {} failed", ids, e);
      out.onError(
          Status.INTERNAL
              .withDescription("loading experts failed on " + nodeId + ": " + e.getMessage())
              .asRuntimeException());
      return;
    }
    out.onNext(LoadExpertsResponse.newBuilder().addAllExperts(refs(store.held())).build());
    out.onCompleted();
  }

  @Override
  public void unloadExperts(
      UnloadExpertsRequest request, StreamObserver<UnloadExpertsResponse> out) {
    List<ExpertId> ids = checked(request.getExpertsList(), out);
    if (ids == null) {
      return;
    }
    store.unload(ids);
    out.onNext(UnloadExpertsResponse.newBuilder().addAllExperts(refs(store.held())).build());
    out.onCompleted();
  }

  /**
   * The ids, or null when one is not an expert of the model (the call is then answered
   * INVALID_ARGUMENT).
   */
  private List<ExpertId> checked(List<ExpertRef> refs, StreamObserver<?> out) {
    try {
      return checked(refs);
    } catch (IllegalArgumentException e) {
      out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
      return null;
    }
  }

  private List<ExpertId> checked(List<ExpertRef> refs) {
    List<ExpertId> ids = new ArrayList<>();
    for (int i = 0; i < refs.size(); i++) {
      // uint32 on the wire: 2^31 and above are large ids, not negative ones
      long layer = Integer.toUnsignedLong(refs.get(i).getLayer());
      long expert = Integer.toUnsignedLong(refs.get(i).getExpert());
      if (layer > Integer.MAX_VALUE || !store.model().isMoeLayer((int) layer)) {
        throw new IllegalArgumentException(
            "experts["
                + i
                + "].layer "
                + layer
                + " is not an MoE layer "
                + store.model().moeLayers());
      }
      if (expert >= store.model().config().numExperts()) {
        throw new IllegalArgumentException(
            "experts["
                + i
                + "].expert "
                + expert
                + " is out of range 0.."
                + (store.model().config().numExperts() - 1));
      }
      ids.add(new ExpertId((int) layer, (int) expert));
    }
    return ids;
  }

  /** The answer in the request's dtype: float32 partial sums rounded to bf16 for bf16 rows. */
  private static List<ExpertRef> refs(List<ExpertId> ids) {
    return ids.stream().map(ExpertId::toProto).toList();
  }

  private static Status statusOf(TensorCheckException e) {
    return (e.tooLarge() ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT)
        .withDescription(e.getMessage());
  }
}
