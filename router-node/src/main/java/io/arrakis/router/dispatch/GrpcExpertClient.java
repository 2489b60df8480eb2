package io.arrakis.router.dispatch;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.NodeDescription;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/** An expert node over its own gRPC channel; every call carries the deadline it is given. */
public final class GrpcExpertClient implements ExpertClient {
  private final ManagedChannel channel;
  private final ExpertGrpc.ExpertFutureStub stub;
  private final HealthGrpc.HealthFutureStub health;

  private final Runnable onClose;

  /**
   * @param onClose run once the channel is shut down by {@link #close}
   */
  public GrpcExpertClient(ManagedChannel channel, Runnable onClose) {
    this.channel = channel;
    this.onClose = onClose;
    this.stub = ExpertGrpc.newFutureStub(channel);
    this.health = HealthGrpc.newFutureStub(channel);
  }

  @Override
  public CompletionStage<Void> load(List<ExpertId> experts, Duration timeout) {
    return done(
        stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
            .loadExperts(
                LoadExpertsRequest.newBuilder()
                    .addAllExperts(experts.stream().map(ExpertId::toProto).toList())
                    .build()));
  }

  @Override
  public CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout) {
    return done(
        stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
            .unloadExperts(
                UnloadExpertsRequest.newBuilder()
                    .addAllExperts(experts.stream().map(ExpertId::toProto).toList())
                    .build()));
  }

  private static <T> CompletionStage<Void> done(ListenableFuture<T> call) {
    return completion(call).thenApply(r -> null);
  }

  /**
   * A restarted node must rejoin as soon as it serves: after a failed connection the channel waits
   * out an exponential backoff (seconds) before trying again, so the check resets the backoff and
   * waits, within its timeout, for the connection rather than failing at once.
   */
  @Override
  public CompletionStage<Boolean> serving(Duration timeout) {
    if (channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
      channel.resetConnectBackoff();
    }
    CompletableFuture<Boolean> out = new CompletableFuture<>();
    Futures.addCallback(
        health
            .withWaitForReady()
            .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
            .check(HealthCheckRequest.getDefaultInstance()),
        new FutureCallback<>() {
          @Override
          public void onSuccess(HealthCheckResponse result) {
            out.complete(result.getStatus() == HealthCheckResponse.ServingStatus.SERVING);
          }

          @Override
          public void onFailure(Throwable t) {
            out.complete(false);
          }
        },
        MoreExecutors.directExecutor());
    return out;
  }

  @Override
  public CompletionStage<NodeDescription> describe(Duration timeout) {
    // waits for the connection within the timeout, as the health check does: a router starting
    // beside
    // its nodes asks before its channels are up
    return completion(
        stub.withWaitForReady()
            .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
            .describe(DescribeRequest.getDefaultInstance()));
  }

  @Override
  public CompletableFuture<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
    ListenableFuture<ComputeResponse> call =
        stub.withDeadlineAfter(Math.max(1, timeout.toNanos()), TimeUnit.NANOSECONDS)
            .compute(request);
    CompletableFuture<ComputeResponse> out = completion(call);
    out.whenComplete(
        (r, e) -> {
          if (out.isCancelled()) {
            call.cancel(true); // cancels the gRPC call: the node skips or abandons the work
          }
        });
    return out;
  }

  @Override
  public void close() {
    channel.shutdown();
    onClose.run();
  }

  private static <T> CompletableFuture<T> completion(ListenableFuture<T> call) {
    CompletableFuture<T> out = new CompletableFuture<>();
    Futures.addCallback(
        call,
        new FutureCallback<>() {
          @Override
          public void onSuccess(T result) {
            out.complete(result);
          }

          @Override
          public void onFailure(Throwable t) {
            out.completeExceptionally(t);
          }
        },
        MoreExecutors.directExecutor());
    return out;
  }
}
