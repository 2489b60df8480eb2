package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.security.RequestArrival;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Compute calls whose request never comes (the headers only) end after the node's request-timeout;
 * past its max-arriving-calls a new one is refused at once; the node serves on.
 */
class SilentCallersTest {
  @Test
  void computeCallsWhoseRequestNeverArrivesEndInTimeAndCostABoundedNumber() throws Exception {
    ExpertNodeSettings settings =
        ExpertNodeHarness.defaults()
            .withArrival(new RequestArrival.Settings(3, Duration.ofMillis(500), "arrakis.expert"));
    try (ExpertNodeHarness h =
        new ExpertNodeHarness(
            Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(new ExpertId(0, 0)), settings)) {
      List<CompletableFuture<Status>> silent = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        silent.add(headersOnly(h));
      }
      Thread.sleep(100); // all three reached the node
      Status refused = headersOnly(h).get(5, TimeUnit.SECONDS);
      assertThat(refused.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(refused.getDescription()).contains("arrakis.expert.max-arriving-calls");
      for (CompletableFuture<Status> s : silent) {
        Status status = s.get(10, TimeUnit.SECONDS);
        assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        assertThat(status.getDescription()).contains("arrakis.expert.request-timeout");
      }
      for (int i = 0; i < 8; i++) {
        assertThat(h.stub().describe(DescribeRequest.getDefaultInstance()).getExpertsCount())
            .isEqualTo(1);
      }
    }
  }

  /**
   * A Compute call that sends its headers and never its request (described as streaming, or
   * grpc-java would hold a unary call's headers back until its message).
   */
  private static CompletableFuture<Status> headersOnly(ExpertNodeHarness h) {
    ClientCall<ComputeRequest, ComputeResponse> call =
        h.channel.newCall(
            ExpertGrpc.getComputeMethod().toBuilder()
                .setType(MethodDescriptor.MethodType.BIDI_STREAMING)
                .build(),
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
