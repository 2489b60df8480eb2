package io.arrakis.router.request;

import com.google.protobuf.ByteString;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.dispatch.ExpertClient;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An expert node for the guardian's tests: holds what its placement, loads and unloads say, answers
 * zeros of the right shape for experts it holds and INVALID_ARGUMENT ("not held") for the rest, and
 * records what the router asked of it.
 */
final class FakeNode implements ExpertClient {
  final String id;
  final String address;
  final Set<ExpertId> held = ConcurrentHashMap.newKeySet();
  final List<List<ExpertId>> unloads = new CopyOnWriteArrayList<>();
  final AtomicInteger healthChecks = new AtomicInteger();
  final AtomicInteger computeCalls = new AtomicInteger();
  volatile NodeDescription description = NodeDescription.newBuilder().setHiddenSize(64).build();
  volatile boolean closed;

  /**
   * Completed by the test to let compute calls answer; completed at once unless a test replaces it.
   */
  volatile CompletableFuture<Void> computeGate = CompletableFuture.completedFuture(null);

  /** Completed by the test to let loads finish; completed at once unless a test replaces it. */
  volatile CompletableFuture<Void> loadsDone = CompletableFuture.completedFuture(null);

  FakeNode(Placement.Node node) {
    this.id = node.id();
    this.address = node.address();
    held.addAll(node.experts());
  }

  @Override
  public CompletableFuture<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
    computeCalls.incrementAndGet();
    for (Assignment a : request.getAssignmentsList()) {
      ExpertId e = new ExpertId(a.getLayer(), a.getExpert());
      if (!held.contains(e)) {
        return CompletableFuture.failedFuture(
            Status.INVALID_ARGUMENT
                .withDescription(id + ": expert " + e + " is not held by this node")
                .asRuntimeException());
      }
    }
    Tensor in = request.getHiddenStates();
    return computeGate.thenApply(
        ok ->
            ComputeResponse.newBuilder()
                .setBatchId(request.getBatchId())
                .setPartialSums(
                    Tensor.newBuilder()
                        .setDtype(in.getDtype())
                        .addAllShape(in.getShapeList())
                        .setData(ByteString.copyFrom(new byte[in.getData().size()])))
                .build());
  }

  @Override
  public CompletionStage<NodeDescription> describe(Duration timeout) {
    return CompletableFuture.completedFuture(description);
  }

  @Override
  public void close() {
    closed = true;
  }

  @Override
  public CompletionStage<Void> load(List<ExpertId> experts, Duration timeout) {
    return loadsDone.thenRun(() -> held.addAll(experts));
  }

  @Override
  public CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout) {
    unloads.add(List.copyOf(experts));
    held.removeAll(experts);
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletionStage<Boolean> serving(Duration timeout) {
    healthChecks.incrementAndGet();
    return CompletableFuture.completedFuture(true);
  }
}
