package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.security.ConnectionLimits;
import io.arrakis.security.RequestArrival;
import io.arrakis.security.testing.ConnectionFlood;
import io.arrakis.security.testing.RapidResets;
import io.arrakis.security.testing.SilentCalls;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Compute calls whose request never comes (the headers only) end after the node's request-timeout;
 * past its max-arriving-calls a new one is refused at once; a caller resetting calls past
 * max-stream-resets loses its connection; a connection past max-connections is closed on arrival;
 * the node serves on.
 */
class HostileCallersTest {
  @Test
  void computeCallsWhoseRequestNeverArrivesEndInTimeAndCostABoundedNumber() throws Exception {
    ExpertNodeSettings settings =
        ExpertNodeHarness.defaults()
            .withArrival(new RequestArrival.Settings(3, Duration.ofMillis(500), "arrakis.expert"));
    try (ExpertNodeHarness h =
        new ExpertNodeHarness(
            Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(new ExpertId(0, 0)), settings)) {
      SilentCalls.holdEveryPlaceThenExpire(
          h.channel, ExpertGrpc.getComputeMethod(), 3, "arrakis.expert");
      for (int i = 0; i < 8; i++) {
        assertThat(h.stub().describe(DescribeRequest.getDefaultInstance()).getExpertsCount())
            .isEqualTo(1);
      }
    }
  }

  @Test
  void aCallerResettingCallsPastTheLimitLosesItsConnection() throws Exception {
    int limit = 50;
    ExpertNodeSettings settings =
        ExpertNodeHarness.defaults()
            .withConnections(
                new ConnectionLimits(
                    limit, Duration.ofSeconds(30), Duration.ZERO, "arrakis.expert"));
    try (ExpertNodeHarness h =
        new ExpertNodeHarness(
            Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(new ExpertId(0, 0)), settings)) {
      assertThat(h.stub().describe(DescribeRequest.getDefaultInstance()).getExpertsCount())
          .isEqualTo(1);
      RapidResets.connectionClosedPastTheLimit(h.channel, ExpertGrpc.getComputeMethod(), limit);
      assertThat(h.stub().describe(DescribeRequest.getDefaultInstance()).getExpertsCount())
          .isEqualTo(1);
    }
  }

  @Test
  void connectionsPastMaxConnectionsAreClosedOnArrival() throws Exception {
    ExpertNodeSettings settings =
        ExpertNodeHarness.defaults()
            .withConnections(
                new ConnectionLimits(
                    0, Duration.ofSeconds(10), Duration.ZERO, 4, "arrakis.expert"));
    try (ExpertNodeHarness h =
        new ExpertNodeHarness(
            Fixtures.dir(Fixtures.MIXTRAL_TINY), List.of(new ExpertId(0, 0)), settings)) {
      assertThat(h.stub().describe(DescribeRequest.getDefaultInstance()).getExpertsCount())
          .isEqualTo(1);
      // the harness's channel holds one place
      ConnectionFlood.onePastTheCapIsClosed(h.server.port(), 3);
      assertThat(h.stub().describe(DescribeRequest.getDefaultInstance()).getExpertsCount())
          .isEqualTo(1);
    }
  }
}
