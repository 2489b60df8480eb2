package io.arrakis.security.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Calls opened and reset at once, over and over: HTTP/2's "rapid reset" flood. */
public final class RapidResets {
  private RapidResets() {}

  /**
   * The behaviour {@code ConnectionLimits} promises on a server that allows {@code limit} resets a
   * window: a connection that resets {@code limit} calls keeps serving (a call held open on it
   * stays open); a few more and the server closes it with GOAWAY ENHANCE_YOUR_CALM (the held call
   * ends RESOURCE_EXHAUSTED, as grpc-java maps that code, long before its deadline); the client may
   * then connect again. Runs within a window of 10 s or more.
   */
  public static void connectionClosedPastTheLimit(
      ManagedChannel channel, MethodDescriptor<?, ?> method, int limit) throws Exception {
    SilentCalls.awaitReady(channel);
    CompletableFuture<Status> held = SilentCalls.headersOnly(channel, method);
    reset(channel, method, limit);
    assertThat(endsWithin(held, 500)).as("the held call after %d resets", limit).isNull();
    reset(channel, method, 8);
    Status closed = endsWithin(held, 5_000);
    assertThat(closed).as("the held call after %d resets", limit + 8).isNotNull();
    assertThat(closed.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(closed.getDescription()).contains("ENHANCE_YOUR_CALM", "too_many_rststreams");
  }

  /**
   * Opens {@code n} calls of {@code method} on {@code channel}, each reset as soon as it is
   * started: on a connected channel grpc-java writes its HEADERS then its RST_STREAM.
   */
  public static <Q, R> void reset(Channel channel, MethodDescriptor<Q, R> method, int n) {
    MethodDescriptor<Q, R> streaming =
        method.toBuilder().setType(MethodDescriptor.MethodType.BIDI_STREAMING).build();
    for (int i = 0; i < n; i++) {
      ClientCall<Q, R> call = channel.newCall(streaming, CallOptions.DEFAULT);
      call.start(new ClientCall.Listener<R>() {}, new Metadata());
      call.cancel("rapid reset", null);
    }
  }

  private static Status endsWithin(CompletableFuture<Status> call, long millis) throws Exception {
    try {
      return call.get(millis, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return null;
    }
  }
}
