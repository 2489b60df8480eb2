package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.testing.PenaltyReference;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A logit bias and penalties through the public APIs of a router whose experts are two expert nodes
 * over loopback: OpenAI's {@code logit_bias}, {@code presence_penalty} and {@code
 * frequency_penalty} and vLLM's {@code repetition_penalty} on {@code /v1/completions}, and gRPC
 * {@code Generate}'s fields (an unset repetition penalty is none), give greedy the tokens worked
 * out from the model's logits and their definitions. Prompts where the best two penalized logits
 * come within 1e-3 of each other are left out: the nodes add experts in another order than the
 * engine in process, and a tie that close could go either way.
 */
class BiasAndPenaltiesApiTest {
  private static final String MODEL = "qwen3_moe";
  private static final double MARGIN = 1e-3;

  /**
   * Greedy tokens under a bias and penalties from the engine in process, or null when a step is too
   * close to call.
   */
  private static int[] expected(
      Engine engine, int[] ids, int n, Map<Integer, Float> bias, float[] penalties) {
    int vocab = engine.config().vocabSize();
    List<Integer> out = new ArrayList<>();
    float[] logits = engine.step(List.of(SequenceChunk.of(1, ids))).logits(0);
    try {
      for (int t = 0; t < n; t++) {
        float[] p =
            PenaltyReference.penalize(
                logits, bias, ids, out, penalties[0], penalties[1], penalties[2]);
        int best = Sampler.argmax(p, 0, vocab);
        float second = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
          second = i == best ? second : Math.max(second, p[i]);
        }
        if (p[best] - second < MARGIN) {
          return null;
        }
        out.add(best);
        if (t + 1 < n) {
          logits = engine.step(List.of(SequenceChunk.of(1, best))).logits(0);
        }
      }
    } finally {
      engine.release(1);
    }
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  @Test
  void completionsAndGenerateApplyThePenaltiesAsDefined() throws Exception {
    Config config = ConfigFactory.load();
    List<Prompt> prompts = ReferenceModels.prompts(MODEL);
    int compared = 0;
    int changed = 0;
    try (RouterHarness harness =
            RouterHarness.serving(ReferenceModels.dir(MODEL), new SimpleMeterRegistry(), config);
        Engine engine = Engine.load(ReferenceModels.dir(MODEL), EngineOptions.DEFAULT)) {
      OpenAiHttp http = harness.openHttp(config);
      for (Prompt prompt : prompts) {
        int n = prompt.greedy().length;
        // the plain greedy first token held back, another pushed
        Map<Integer, Float> bias = Map.of(prompt.greedy()[0], -5f, 7, 2.5f);
        int[] http3 = expected(engine, prompt.ids(), n, bias, new float[] {0.8f, 0.6f, 1.4f});
        if (http3 != null) {
          ObjectNode body =
              OpenAiHttp.greedyCompletion(prompt.ids(), n)
                  .put("presence_penalty", 0.8)
                  .put("frequency_penalty", 0.6)
                  .put("repetition_penalty", 1.4);
          ObjectNode biasJson = body.putObject("logit_bias");
          bias.forEach((t, b) -> biasJson.put(Integer.toString(t), b));
          OpenAiHttp.Answer a = http.post("/v1/completions", body);
          assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
          int[] got = HttpApiTest.ids(a.body().path("choices").get(0).path("token_ids"));
          assertThat(got).as("/v1/completions").containsExactly(http3);
          changed += Arrays.equals(got, prompt.greedy()) ? 0 : 1;
          compared++;
        }
        int[] grpc2 =
            expected(engine, prompt.ids(), n, Map.of(3, 1.5f), new float[] {-0.5f, 1.2f, 1f});
        if (grpc2 != null) {
          GenerateStream s =
              GenerateStream.start(
                  harness.channel,
                  GenerateServiceTest.ids(
                      "penalties",
                      prompt.ids(),
                      GenerateServiceTest.greedy(n).toBuilder()
                          .setPresencePenalty(-0.5f)
                          .setFrequencyPenalty(1.2f)
                          .putLogitBias(3, 1.5f)
                          .build()));
          assertThat(s.await()).isEqualTo(Status.OK);
          assertThat(s.tokens()).as("Generate").containsExactly(grpc2);
          compared++;
        }
      }
    }
    assertThat(compared).as("requests compared").isGreaterThanOrEqualTo(6);
    assertThat(changed).as("completions whose tokens the penalties changed").isPositive();
    System.out.printf("%d of %d requests compared%n", compared, 2 * prompts.size());
  }
}
