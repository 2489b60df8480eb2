package io.arrakis.router.dispatch;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.ExpertGrpc;
import io.grpc.ManagedChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/** An expert node over gRPC; every call carries the deadline it is given. */
public final class GrpcExpertClient implements ExpertClient {
  private final ExpertGrpc.ExpertFutureStub stub;

  public GrpcExpertClient(ManagedChannel channel) {
    this.stub = ExpertGrpc.newFutureStub(channel);
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
