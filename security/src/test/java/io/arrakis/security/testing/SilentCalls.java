package io.arrakis.security.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Calls that send their headers and never their request, as a hostile or stalled client does. */
public final class SilentCalls {
  private SilentCalls() {}

  /**
   * The behaviour {@code RequestArrival} promises, on a server that allows {@code places} arriving
   * calls: that many silent calls hold every place, one more is refused at once naming {@code
   * prefix.max-arriving-calls}, and each of them ends DEADLINE_EXCEEDED naming {@code
   * prefix.request-timeout}.
   */
  public static void holdEveryPlaceThenExpire(
      ManagedChannel channel, MethodDescriptor<?, ?> method, int places, String prefix)
      throws Exception {
    awaitReady(channel);
    List<CompletableFuture<Status>> silent = new ArrayList<>();
    for (int i = 0; i < places; i++) {
      silent.add(headersOnly(channel, method));
    }
    Thread.sleep(100); // all have reached the server
    Status refused = headersOnly(channel, method).get(5, TimeUnit.SECONDS);
    assertThat(refused.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(refused.getDescription()).contains(prefix + ".max-arriving-calls");
    for (CompletableFuture<Status> s : silent) {
      Status status = s.get(10, TimeUnit.SECONDS);
      assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
      assertThat(status.getDescription()).contains(prefix + ".request-timeout");
    }
  }

  /**
   * Waits (at most 10 s) until {@code channel} is connected. Calls started on a channel still
   * connecting wait in grpc-java's delayed transport and may reach the server in any order, or
   * (when cancelled there) not at all.
   */
  public static void awaitReady(ManagedChannel channel) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    ConnectivityState state = channel.getState(true);
    while (state != ConnectivityState.READY && System.nanoTime() < deadline) {
      CountDownLatch changed = new CountDownLatch(1);
      channel.notifyWhenStateChanged(state, changed::countDown);
      changed.await(100, TimeUnit.MILLISECONDS);
      state = channel.getState(true);
    }
    assertThat(state)
        .as("the channel's state after at most 10 s")
        .isEqualTo(ConnectivityState.READY);
  }

  /**
   * Opens a call of {@code method} with a deadline a minute away, sends its headers only, and
   * returns how it ends. (Described to grpc-java as streaming: it holds a unary call's headers back
   * until its message.)
   */
  public static <Q, R> CompletableFuture<Status> headersOnly(
      Channel channel, MethodDescriptor<Q, R> method) {
    ClientCall<Q, R> call =
        channel.newCall(
            method.toBuilder().setType(MethodDescriptor.MethodType.BIDI_STREAMING).build(),
            CallOptions.DEFAULT.withDeadlineAfter(60, TimeUnit.SECONDS));
    CompletableFuture<Status> closed = new CompletableFuture<>();
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onClose(Status status, Metadata trailers) {
            closed.complete(status);
          }
        },
        new Metadata());
    call.request(1);
    return closed;
  }
}
