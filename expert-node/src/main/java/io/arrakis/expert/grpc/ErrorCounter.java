package io.arrakis.expert.grpc;

import io.arrakis.expert.metrics.ExpertMetrics;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * Counts calls that end with a status other than OK, by code. Counting where the call closes, not
 * where the service decides to fail, also catches what no handler names (UNKNOWN from an uncaught
 * exception) and keeps the service free of bookkeeping.
 */
public final class ErrorCounter implements ServerInterceptor {
  private final ExpertMetrics metrics;

  public ErrorCounter(ExpertMetrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    return next.startCall(
        new SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            if (!status.isOk()) {
              metrics.error(status.getCode());
            }
            super.close(status, trailers);
          }
        },
        headers);
  }
}
