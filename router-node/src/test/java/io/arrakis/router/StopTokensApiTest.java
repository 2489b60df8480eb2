package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.engine.testing.StopReference;
import io.arrakis.proto.v1.GenerateResponse;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * vLLM's {@code stop_token_ids} and {@code min_tokens} through the public APIs of a router whose
 * experts are two expert nodes over loopback ({@code /v1/completions} and gRPC {@code Generate}):
 * greedy gives the tokens worked out from the model's logits (the stop tokens barred until min
 * tokens, then the first one picked ends the answer and is part of it), with finish reason "stop"
 * or "length" to match. Prompts whose best two logits come within 1e-3 at some step are left out
 * (the nodes add experts in another order than the engine in process).
 */
class StopTokensApiTest {
  private static final String MODEL = "qwen3_moe";
  private static final float MARGIN = 1e-3f;
  private static final int MIN_TOKENS = 3;

  @Test
  void completionsAndGenerateStopAtStopTokensOnlyAfterMinTokens() throws Exception {
    Config config = ConfigFactory.load();
    int compared = 0;
    int stopped = 0;
    try (RouterHarness harness =
            RouterHarness.serving(ReferenceModels.dir(MODEL), new SimpleMeterRegistry(), config);
        Engine engine = Engine.load(ReferenceModels.dir(MODEL), EngineOptions.DEFAULT)) {
      OpenAiHttp http = harness.openHttp(config);
      for (Prompt prompt : ReferenceModels.prompts(MODEL)) {
        int[] g = prompt.greedy();
        int n = g.length;
        // greedy's own first token and its third: barred for three tokens, then free to end it
        Set<Integer> stops = new HashSet<>(List.of(g[0], g[2]));
        StopReference.Decoded want =
            StopReference.greedy(engine, prompt.ids(), n, stops, MIN_TOKENS);
        if (want.closest() < MARGIN) {
          continue;
        }
        String reason = want.stopped() ? "stop" : "length";
        ObjectNode body =
            OpenAiHttp.greedyCompletion(prompt.ids(), n).put("min_tokens", MIN_TOKENS);
        body.set("stop_token_ids", OpenAiHttp.JSON.valueToTree(List.copyOf(stops)));
        OpenAiHttp.Answer a = http.post("/v1/completions", body);
        assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
        JsonNode choice = a.body().path("choices").get(0);
        int[] got = HttpApiTest.ids(choice.path("token_ids"));
        assertThat(got).as("/v1/completions").containsExactly(want.tokens());
        assertThat(choice.path("finish_reason").asText()).isEqualTo(reason);

        GenerateStream s =
            GenerateStream.start(
                harness.channel,
                GenerateServiceTest.ids(
                    "stop-tokens",
                    prompt.ids(),
                    GenerateServiceTest.greedy(n).toBuilder()
                        .addAllStopTokenIds(stops)
                        .setMinTokens(MIN_TOKENS)
                        .build()));
        assertThat(s.await()).isEqualTo(Status.OK);
        assertThat(s.tokens()).as("Generate").containsExactly(want.tokens());
        List<GenerateResponse> responses = s.messages;
        assertThat(responses.get(responses.size() - 1).getFinishReason()).isEqualTo(reason);
        compared++;
        stopped += want.stopped() ? 1 : 0;
      }
    }
    assertThat(compared).as("prompts compared").isGreaterThanOrEqualTo(3);
    assertThat(stopped).as("answers a stop token ended").isPositive();
  }
}
