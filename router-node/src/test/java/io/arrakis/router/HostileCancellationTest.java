package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.security.ConnectionLimits;
import io.arrakis.security.testing.ConnectionFlood;
import io.arrakis.security.testing.RapidResets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

/**
 * Clients that give up: every call cancelled while it waits for a busy expert node frees at once
 * what it held at the router (its queued slice, its admission tokens, its coordinator) and its
 * in-flight expert call, long before its deadline, round after round; a client that cancels calls
 * as fast as it opens them loses its connection; connections past max-connections are closed as
 * they arrive.
 */
class HostileCancellationTest {
  static final int CALLS = 1000;
  static final int TOKENS = 4;
  static final long SETTLE_MS = 5_000;

  @Test
  void aThousandCallsCancelledMidFlightLeaveNoQueuedSliceNoHeldTokenAndNoGrowth() throws Exception {
    RouterSettings settings =
        RouterHarness.settings().withAdmission(TokenLimiter.Settings.fixed(CALLS * TOKENS));
    try (RouterHarness h = RouterHarness.contiguous(Fixtures.MIXTRAL_TINY, 1, settings)) {
      InProcessExpert node = h.experts.get("expert-0");
      h.inference().forward(HostileDeadlineTest.request("warm", TOKENS));
      int threadsBefore = Thread.activeCount();
      // callbacks on the calling thread: the client's own executor would start threads of its own
      // for them
      var stub =
          InferenceGrpc.newFutureStub(h.channel)
              .withDeadlineAfter(60, TimeUnit.SECONDS)
              .withExecutor(MoreExecutors.directExecutor());
      for (int round = 0; round < 2; round++) {
        CountDownLatch busy = new CountDownLatch(1);
        node.hold = busy;
        int cancelledBefore = node.cancelled.get();
        int callsBefore = node.calls.size();
        List<ListenableFuture<ForwardResponse>> calls = new ArrayList<>();
        for (int i = 0; i < CALLS; i++) {
          calls.add(stub.forward(HostileDeadlineTest.request("r" + round + "-" + i, TOKENS)));
        }
        // two calls are out at the node (node-max-in-flight), the other slices wait in its
        // dispatcher
        int inFlight = settings.nodeLimits().maxInFlight();
        awaitValue(
            "slices queued for expert-0",
            () -> Meters.gauge(h.registry, "arrakis_router_node_queue_depth"),
            CALLS - inFlight,
            30_000);
        calls.forEach(c -> c.cancel(true));

        awaitValue(
            "slices queued",
            () -> Meters.gauge(h.registry, "arrakis_router_node_queue_depth"),
            0,
            SETTLE_MS);
        awaitValue(
            "tokens held",
            () -> Meters.gauge(h.registry, "arrakis_router_inflight_tokens"),
            0,
            SETTLE_MS);
        awaitValue(
            "running requests",
            () -> Meters.gauge(h.registry, "arrakis_router_active_requests"),
            0,
            SETTLE_MS);
        // every call the node got meanwhile carried only cancelled requests: the router cancelled
        // each of them
        awaitValue(
            "expert calls left computing",
            () -> (node.calls.size() - callsBefore) - (node.cancelled.get() - cancelledBefore),
            0,
            SETTLE_MS);
        assertThat(node.calls.size() - callsBefore)
            .as("expert calls made")
            .isGreaterThanOrEqualTo(inFlight);

        node.hold = null;
        busy.countDown();
        ForwardResponse after =
            h.inference().forward(HostileDeadlineTest.request("after-" + round, TOKENS));
        assertThat(after.getRequestId()).isEqualTo("after-" + round);
      }
      assertThat(Thread.activeCount())
          .as("threads after two rounds")
          .isLessThan(threadsBefore + 16);
    }
  }

  /**
   * A client that opens and resets calls faster than max-stream-resets allows loses its connection
   * (and only that), and leaves the router as it was.
   */
  @Test
  void aClientResettingCallsPastTheLimitLosesItsConnection() throws Exception {
    int limit = 50;
    RouterSettings settings =
        RouterHarness.settings()
            .withConnections(
                new ConnectionLimits(
                    limit, Duration.ofSeconds(30), Duration.ZERO, "arrakis.router"));
    try (RouterHarness h = RouterHarness.contiguous(Fixtures.MIXTRAL_TINY, 1, settings)) {
      h.inference().forward(HostileDeadlineTest.request("connected", TOKENS));
      RapidResets.connectionClosedPastTheLimit(h.channel, InferenceGrpc.getForwardMethod(), limit);
      ForwardResponse after = h.inference().forward(HostileDeadlineTest.request("after", TOKENS));
      assertThat(after.getRequestId()).isEqualTo("after");
      awaitValue(
          "tokens held",
          () -> Meters.gauge(h.registry, "arrakis_router_inflight_tokens"),
          0,
          SETTLE_MS);
    }
  }

  /**
   * Connections that never send a byte hold a place each up to max-connections; one past it is
   * closed on arrival; the client already connected is served throughout.
   */
  @Test
  void connectionsPastMaxConnectionsAreClosedOnArrival() throws Exception {
    RouterSettings settings =
        RouterHarness.settings()
            .withConnections(
                new ConnectionLimits(
                    0, Duration.ofSeconds(10), Duration.ZERO, 4, "arrakis.router"));
    try (RouterHarness h = RouterHarness.contiguous(Fixtures.MIXTRAL_TINY, 1, settings)) {
      h.inference().forward(HostileDeadlineTest.request("connected", TOKENS));
      ConnectionFlood.onePastTheCapIsClosed(h.router.port(), 3); // the harness's channel is one
      ForwardResponse after = h.inference().forward(HostileDeadlineTest.request("after", TOKENS));
      assertThat(after.getRequestId()).isEqualTo("after");
      awaitValue(
          "connections open",
          () -> Meters.gauge(h.registry, "arrakis_router_grpc_connections"),
          1,
          SETTLE_MS);
      assertThat(
              h.registry.get("arrakis_router_grpc_connections_refused").functionCounter().count())
          .isEqualTo(1);
    }
  }

  static void awaitValue(String what, DoubleSupplier value, double want, long timeoutMs)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    while (value.getAsDouble() != want && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(value.getAsDouble()).as("%s after at most %d ms", what, timeoutMs).isEqualTo(want);
  }
}
