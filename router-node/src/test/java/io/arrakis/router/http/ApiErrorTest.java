package io.arrakis.router.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** A failed generation's gRPC status as OpenAI's error shape. */
class ApiErrorTest {

  @Test
  void eachStatusGetsItsHttpStatusAndType() {
    assertThat(ApiError.of(Status.RESOURCE_EXHAUSTED, "prompt").status()).isEqualTo(429);
    assertThat(ApiError.of(Status.UNAVAILABLE, "prompt").type()).isEqualTo("service_unavailable");
    assertThat(ApiError.of(Status.DEADLINE_EXCEEDED, "prompt").status()).isEqualTo(504);
    ApiError invalid =
        ApiError.of(
            Status.INVALID_ARGUMENT.withDescription("sampling.top_p must be in (0, 1]"), "prompt");
    assertThat(invalid.status()).isEqualTo(400);
    assertThat(invalid.param()).isEqualTo("top_p");
  }

  /** In a Turkish locale "INTERNAL".toLowerCase() is "ınternal" (dotless i): codes stay ASCII. */
  @Test
  void theCodeOfAnyOtherStatusIsItsNameInLowerCaseWhateverTheLocale() {
    Locale saved = Locale.getDefault();
    Locale.setDefault(Locale.forLanguageTag("tr-TR"));
    try {
      ApiError e = ApiError.of(Status.INTERNAL.withDescription("a bug"), "prompt");
      assertThat(e.status()).isEqualTo(500);
      assertThat(e.code()).isEqualTo("internal");
      assertThat(ApiError.of(Status.PERMISSION_DENIED, "prompt").code())
          .isEqualTo("permission_denied");
    } finally {
      Locale.setDefault(saved);
    }
  }
}
