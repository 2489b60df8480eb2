package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.security.RequestArrival;
import io.arrakis.security.testing.SilentCalls;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A hostile client's deadlines: a deadline a century away costs the router what a call within its
 * longest allowed deadline costs, is answered, and gives back what it took; a call whose request
 * never comes is ended by the router's own time.
 */
class HostileDeadlineTest {
  static final long CENTURY_DAYS = 100 * 365L;

  @Test
  void callsWithAHundredYearDeadlineAreAnsweredAndNormalCallsStillSucceedAfterThem()
      throws Exception {
    try (RouterHarness h =
        RouterHarness.contiguous(Fixtures.MIXTRAL_TINY, 2, RouterHarness.settings())) {
      int tokens = RouterHarness.settings().maxRequestTokens();
      ForwardRequest full = request("century", tokens);
      var century =
          InferenceGrpc.newBlockingStub(h.channel).withDeadlineAfter(CENTURY_DAYS, TimeUnit.DAYS);
      // four of them hold the whole default admission limit (4 x 4,096 = 16,384 tokens)
      List<String> answers = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        try {
          ForwardResponse r = century.forward(full);
          answers.add("OK " + r.getOutput().getShape(0));
        } catch (StatusRuntimeException e) {
          answers.add(e.getStatus().getCode() + " " + e.getStatus().getDescription());
        }
      }
      assertThat(answers).as("answers to the century-deadline calls").containsOnly("OK " + tokens);
      for (int i = 0; i < 10; i++) {
        ForwardResponse r = h.inference().forward(request("normal-" + i, 32));
        assertThat(r.getRequestId()).isEqualTo("normal-" + i);
      }
      assertThat(Meters.gauge(h.registry, "arrakis_router_inflight_tokens"))
          .as("tokens held after")
          .isZero();
    }
  }

  /**
   * Forward calls whose request never comes (the headers only) end after the router's
   * request-timeout, past its max-arriving-calls a new one is refused at once, and they leave the
   * router as it was.
   */
  @Test
  void callsWhoseRequestNeverArrivesEndAfterTheRequestTimeoutAndCostABoundedNumber()
      throws Exception {
    RouterSettings settings =
        RouterHarness.settings()
            .withArrival(new RequestArrival.Settings(4, Duration.ofMillis(500), "arrakis.router"));
    try (RouterHarness h = RouterHarness.contiguous(Fixtures.MIXTRAL_TINY, 2, settings)) {
      SilentCalls.holdEveryPlaceThenExpire(
          h.channel, InferenceGrpc.getForwardMethod(), 4, "arrakis.router");
      for (int i = 0; i < 8; i++) {
        assertThat(h.inference().forward(request("after-" + i, 8)).getRequestId())
            .isEqualTo("after-" + i);
      }
      assertThat(Meters.gauge(h.registry, "arrakis_router_inflight_tokens")).isZero();
    }
  }

  static ForwardRequest request(String id, int tokens) {
    float[] x = new float[tokens * 64];
    Random rnd = new Random(tokens);
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return ForwardRequest.newBuilder()
        .setRequestId(id)
        .setLayer(0)
        .setHiddenStates(TensorCodec.encodeFloat(x, tokens, 64))
        .build();
  }
}
