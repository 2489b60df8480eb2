package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.proto.v1.GenerateResponse;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * vLLM's {@code cache_salt} through both public APIs of a router whose experts are two expert nodes
 * over loopback: a prompt repeated with the same salt is served from the prefix cache (its usage
 * counts the cached tokens), with another salt or none it is not.
 */
class CacheSaltApiTest {
  private static final String MODEL = "qwen3_moe";

  @Test
  void aPromptIsServedFromTheCacheOnlyToRequestsOfItsSalt() throws Exception {
    Config config = ConfigFactory.load();
    List<Prompt> prompts = ReferenceModels.prompts(MODEL);
    try (RouterHarness harness =
        RouterHarness.serving(ReferenceModels.dir(MODEL), new SimpleMeterRegistry(), config)) {
      OpenAiHttp http = harness.openHttp(config);
      int[] ids = prompts.get(5).ids();
      int blocks = (ids.length - 1) / 16 * 16; // full blocks of the default size before the last
      assertThat(blocks).isPositive();
      assertThat(httpCached(http, ids, "tenant-a")).isZero();
      assertThat(httpCached(http, ids, null)).as("unsalted").isZero();
      assertThat(httpCached(http, ids, "tenant-b")).as("another salt").isZero();
      assertThat(httpCached(http, ids, "tenant-a")).as("the same salt").isEqualTo(blocks);

      int[] other = prompts.get(4).ids();
      assertThat(grpcCached(harness, other, "tenant-a")).isZero();
      assertThat(grpcCached(harness, other, "")).as("unsalted (empty)").isZero();
      assertThat(grpcCached(harness, other, "tenant-a"))
          .as("the same salt")
          .isEqualTo((other.length - 1) / 16 * 16);
    }
  }

  private static long httpCached(OpenAiHttp http, int[] ids, String salt) throws Exception {
    ObjectNode body = OpenAiHttp.greedyCompletion(ids, 2);
    if (salt != null) {
      body.put("cache_salt", salt);
    }
    OpenAiHttp.Answer a = http.post("/v1/completions", body);
    assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
    return a.body().path("usage").path("prompt_tokens_details").path("cached_tokens").asLong();
  }

  private static long grpcCached(RouterHarness harness, int[] ids, String salt) throws Exception {
    GenerateStream s =
        GenerateStream.start(
            harness.channel,
            GenerateServiceTest.ids("salted", ids, GenerateServiceTest.greedy(2)).toBuilder()
                .setCacheSalt(salt)
                .build());
    assertThat(s.await()).isEqualTo(Status.OK);
    List<GenerateResponse> m = s.messages;
    return m.get(m.size() - 1).getUsage().getCachedTokens();
  }
}
