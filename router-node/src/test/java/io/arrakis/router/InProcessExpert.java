package io.arrakis.router;

import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.dispatch.ExpertClient;
import io.grpc.Status;
import com.google.protobuf.ByteString;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * An expert node computed in this JVM with the model library, for router tests: it computes only
 * the experts the placement gives it (anything else is a test failure) and records every call.
 */
final class InProcessExpert implements ExpertClient {
  private final Placement.Node node;
  private final MoeModel model;
  private final ExecutorService executor = Executors.newSingleThreadExecutor();
  final List<ComputeRequest> calls = new CopyOnWriteArrayList<>();
  /** What the node holds: its placement's experts at first, then as LoadExperts/UnloadExperts say. */
  final java.util.Set<ExpertId> held = java.util.concurrent.ConcurrentHashMap.newKeySet();
  volatile boolean down;
  /** While set, every compute call fails with it though the node still reports SERVING (a call broken mid-way). */
  volatile Status breaksCallsWith;
  /** While set, calls wait for it (a busy node). */
  volatile java.util.concurrent.CountDownLatch hold;

  InProcessExpert(Placement.Node node, MoeModel model) {
    this.node = node;
    this.model = model;
    held.addAll(node.experts());
  }

  @Override
  public CompletionStage<Void> load(List<ExpertId> experts, Duration timeout) {
    held.addAll(experts);
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout) {
    held.removeAll(experts);
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletionStage<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
    calls.add(request);
    if (down) {
      return CompletableFuture.failedFuture(Status.UNAVAILABLE.withDescription("connection refused").asRuntimeException());
    }
    Status broken = breaksCallsWith;
    if (broken != null) {
      return CompletableFuture.failedFuture(broken.asRuntimeException());
    }
    java.util.concurrent.CountDownLatch h = hold;
    return CompletableFuture.supplyAsync(() -> {
      if (h != null) {
        try {
          h.await(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return run(request);
    }, executor);
  }

  @Override
  public CompletionStage<Boolean> serving(Duration timeout) {
    return CompletableFuture.completedFuture(!down);
  }

  private ComputeResponse run(ComputeRequest request) {
    try {
      INDArray x = TensorCodec.decodeFloat(request.getHiddenStates());
      List<ExpertWork> work = new ArrayList<>();
      for (Assignment a : request.getAssignmentsList()) {
        ExpertId id = new ExpertId(a.getLayer(), a.getExpert());
        if (!held.contains(id)) {
          throw Status.INVALID_ARGUMENT.withDescription(node.id() + " was sent expert " + id + " it does not hold")
              .asRuntimeException();
        }
        float[] w = new float[a.getWeightsCount()];
        for (int i = 0; i < w.length; i++) {
          w[i] = a.getWeights(i);
        }
        work.add(new ExpertWork(model.expert(a.getLayer(), a.getExpert()),
            a.getRowsList().stream().mapToInt(Integer::intValue).toArray(), w));
      }
      var sums = new MoeCombiner().combine(x, work);
      return ComputeResponse.newBuilder().setBatchId(request.getBatchId())
          .setPartialSums(Tensor.newBuilder().setDtype(DType.FLOAT32).addAllShape(request.getHiddenStates().getShapeList())
              .setData(ByteString.copyFrom(sums)))
          .build();
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  void close() {
    executor.shutdownNow();
  }
}
