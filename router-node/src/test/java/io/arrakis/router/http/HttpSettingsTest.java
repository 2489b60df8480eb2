package io.arrakis.router.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class HttpSettingsTest {
  @Test
  void defaultsFromReferenceConf() {
    HttpSettings s = HttpSettings.from(ConfigFactory.load());
    assertThat(s.port()).isEqualTo(8000);
    assertThat(s.enabled()).isTrue();
    assertThat(s.maxBodyBytes()).isEqualTo(4L << 20);
    assertThat(s.bodyTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(s.maxConnections()).isEqualTo(1024);
    assertThat(s.idleTimeout()).isEqualTo(Duration.ofMinutes(5));
    assertThat(s.streamBuffer()).isEqualTo(1024);
  }

  @Test
  void overridesAndOff() {
    HttpSettings s =
        HttpSettings.from(
            ConfigFactory.parseMap(
                    Map.of(
                        "arrakis.router.http.port",
                        -1,
                        "arrakis.router.http.max-body-bytes",
                        "64k"))
                .withFallback(ConfigFactory.load()));
    assertThat(s.enabled()).isFalse();
    assertThat(s.maxBodyBytes()).isEqualTo(64 * 1024);
  }

  @Test
  void badValuesAreRefusedNamingTheKey() {
    HttpSettings ok = HttpSettings.from(ConfigFactory.load());
    assertThatThrownBy(() -> ok.withPort(70000)).hasMessageContaining("arrakis.router.http.port");
    assertThatThrownBy(() -> ok.withMaxBodyBytes(10)).hasMessageContaining("max-body-bytes");
    assertThatThrownBy(
            () -> new HttpSettings(0, 1 << 20, Duration.ZERO, 1, Duration.ofSeconds(1), 1))
        .hasMessageContaining("body-timeout");
  }
}
