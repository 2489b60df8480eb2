package io.arrakis.router.dispatch;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.common.util.concurrent.ListenableFuture;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.LoadExpertsRequest;
import io.arrakis.proto.v1.UnloadExpertsRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.ExpertGrpc;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/** An expert node over gRPC; every call carries the deadline it is given. */
public final class GrpcExpertClient implements ExpertClient {
  private final ManagedChannel channel;
  private final ExpertGrpc.ExpertFutureStub stub;
  private final HealthGrpc.HealthFutureStub health;

  public GrpcExpertClient(ManagedChannel channel) {
    this.channel = channel;
    this.stub = ExpertGrpc.newFutureStub(channel);
    this.health = HealthGrpc.newFutureStub(channel);
  }

  @Override
  public CompletionStage<Void> load(List<ExpertId> experts, Duration timeout) {
    return done(stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS).loadExperts(
        LoadExpertsRequest.newBuilder().addAllExperts(experts.stream().map(ExpertId::toProto).toList()).build()));
  }

  @Override
  public CompletionStage<Void> unload(List<ExpertId> experts, Duration timeout) {
    return done(stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS).unloadExperts(
        UnloadExpertsRequest.newBuilder().addAllExperts(experts.stream().map(ExpertId::toProto).toList()).build()));
  }

  private static <T> CompletionStage<Void> done(ListenableFuture<T> call) {
    CompletableFuture<Void> out = new CompletableFuture<>();
    Futures.addCallback(call, new FutureCallback<>() {
      @Override
      public void onSuccess(T result) {
        out.complete(null);
      }

      @Override
      public void onFailure(Throwable t) {
        out.completeExceptionally(t);
      }
    }, MoreExecutors.directExecutor());
    return out;
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
        health.withWaitForReady().withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
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
  public CompletionStage<ComputeResponse> compute(ComputeRequest request, Duration timeout) {
    CompletableFuture<ComputeResponse> out = new CompletableFuture<>();
    Futures.addCallback(
        stub.withDeadlineAfter(Math.max(1, timeout.toNanos()), TimeUnit.NANOSECONDS).compute(request),
        new FutureCallback<>() {
          @Override
          public void onSuccess(ComputeResponse result) {
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
