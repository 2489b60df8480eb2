package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import io.arrakis.security.ConnectionLimits;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Limits that follow from the router's settings and the model, and settings refused at startup. */
class RouterSettingsTest {
  static RouterSettings with(String hocon) {
    return RouterSettings.from(ConfigFactory.parseString(hocon).withFallback(ConfigFactory.load()));
  }

  @Test
  void theInboundMessageLimitIsTheLargestValidForwardCallPlusItsHeader() {
    RouterSettings s = with("arrakis.router.max-request-tokens = 4096");
    assertThat(s.maxMessageBytes(4096)).isEqualTo(4096 * 4096 * 4 + 64 * 1024);
    assertThat(s.maxMessageBytes(16)).as("small models: at least 1 MiB").isEqualTo(1 << 20);
    assertThat(with("arrakis.router.node-max-batch-tokens = 1024").maxAnswerBytes(4096))
        .isEqualTo(1024 * 4096 * 4 + 64 * 1024);
  }

  @Test
  void aTokenLimitThatCannotFitOneGrpcMessageIsRefusedNamingTheSetting() {
    RouterSettings s = with("arrakis.router.max-request-tokens = 200000");
    assertThatThrownBy(() -> s.maxMessageBytes(7168))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("max-request-tokens")
        .hasMessageContaining("2 GiB");
  }

  @Test
  void timeoutsBeyondADayAreRefusedAtStartup() {
    assertThatThrownBy(() -> with("arrakis.router.default-deadline = 1000d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("arrakis.router.default-deadline");
    assertThatThrownBy(() -> with("arrakis.router.max-deadline = 0s"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("arrakis.router.max-deadline");
    assertThatThrownBy(() -> with("arrakis.router.node-call-timeout = 300d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("node-call-timeout");
  }

  @Test
  void connectionBoundsAreReadFromTheirKeys() {
    assertThat(with("").connections())
        .isEqualTo(
            new ConnectionLimits(
                10_000, Duration.ofSeconds(10), Duration.ofMinutes(5), 1024, "arrakis.router"));
    assertThat(with("arrakis.router.max-connections = 0").connections().maxConnections()).isZero();
    assertThatThrownBy(() -> with("arrakis.router.max-connections = -1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("arrakis.router.max-connections");
  }
}
