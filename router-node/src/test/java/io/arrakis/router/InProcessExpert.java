package io.arrakis.router;

import com.google.protobuf.ByteString;
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
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.Tensor;
import io.arrakis.router.dispatch.ExpertClient;
import io.grpc.Status;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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

  /**
   * What the node holds: its placement's experts at first, then as LoadExperts/UnloadExperts say.
   */
  final Set<ExpertId> held = ConcurrentHashMap.newKeySet();

  volatile boolean down;

  /**
   * While set, every compute call fails with it though the node still reports SERVING (a call
   * broken mid-way).
   */
  volatile Status breaksCallsWith;

  /** While set, calls wait for it (a busy node). */
  volatile CountDownLatch hold;

  /** Each call takes at least this long (a slow node); 0: as long as its work. */
  volatile long delayMillis;

  /** Calls the router gave up on (cancelled) before they were answered. */
  final AtomicInteger cancelled = new AtomicInteger();

  /**
   * So many of the next calls fail with {@link #failNextWith}, the node still reporting SERVING (a
   * blip).
   */
  final AtomicInteger failNext = new AtomicInteger();

  volatile Status failNextWith = Status.UNAVAILABLE.withDescription("connection reset");

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
  public CompletableFuture<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
    calls.add(request);
    if (down) {
      return CompletableFuture.failedFuture(
          Status.UNAVAILABLE.withDescription("connection refused").asRuntimeException());
    }
    Status broken = breaksCallsWith;
    if (broken != null) {
      return CompletableFuture.failedFuture(broken.asRuntimeException());
    }
    if (failNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      return CompletableFuture.failedFuture(failNextWith.asRuntimeException());
    }
    CountDownLatch h = hold;
    long delay = delayMillis;
    CompletableFuture<ComputeResponse> answer =
        CompletableFuture.supplyAsync(
            () -> {
              if (delay > 0) {
                try {
                  Thread.sleep(delay);
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              }
              if (h != null) {
                try {
                  h.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              }
              return run(request);
            },
            executor);
    answer.whenComplete(
        (r, e) -> {
          if (answer.isCancelled()) {
            cancelled.incrementAndGet();
          }
        });
    return answer;
  }

  /** Says only its hidden size: a node that does not give its limits (as nodes before they did). */
  @Override
  public CompletionStage<NodeDescription> describe(Duration timeout) {
    if (down) {
      return CompletableFuture.failedFuture(
          Status.UNAVAILABLE.withDescription("connection refused").asRuntimeException());
    }
    return CompletableFuture.completedFuture(
        NodeDescription.newBuilder()
            .setNodeId(node.id())
            .setHiddenSize(model.config().hiddenSize())
            .build());
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
          throw Status.INVALID_ARGUMENT
              .withDescription(node.id() + " was sent expert " + id + " it does not hold")
              .asRuntimeException();
        }
        float[] w = new float[a.getWeightsCount()];
        for (int i = 0; i < w.length; i++) {
          w[i] = a.getWeights(i);
        }
        work.add(
            new ExpertWork(
                model.expert(a.getLayer(), a.getExpert()),
                a.getRowsList().stream().mapToInt(Integer::intValue).toArray(),
                w));
      }
      ByteString sums = ByteString.copyFrom(new MoeCombiner().combine(x, work));
      // answered in the request's dtype, as expert nodes do
      boolean bf16 = request.getHiddenStates().getDtype() == DType.BFLOAT16;
      return ComputeResponse.newBuilder()
          .setBatchId(request.getBatchId())
          .setPartialSums(
              Tensor.newBuilder()
                  .setDtype(request.getHiddenStates().getDtype())
                  .addAllShape(request.getHiddenStates().getShapeList())
                  .setData(bf16 ? TensorCodec.narrowToBf16(sums) : sums))
          .build();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Calls the router's dispatchers made (the router closes a client once it no longer uses the
   * node).
   */
  final AtomicInteger closed = new AtomicInteger();

  @Override
  public void close() {
    closed.incrementAndGet();
  }

  void stop() {
    executor.shutdownNow();
  }
}
