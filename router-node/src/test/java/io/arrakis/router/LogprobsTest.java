package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.proto.v1.GenerateResponse;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenLogprob;
import io.arrakis.router.serve.Serving;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Log-probabilities on the cluster (a router and two expert nodes' experts over loopback) are
 * transformers' for every reference model: each greedy token's log-probability, and those of the
 * most likely tokens at its position, are the log-softmax of the logits transformers chose it from
 * ({@code gen_logits_P}) — through gRPC {@code Generate}, and through {@code /v1/completions}
 * (whole and streamed) and {@code /v1/chat/completions} in OpenAI's two shapes. They are the
 * model's, whatever the temperature. An echoed prompt's tokens carry theirs too ({@code logits_P}),
 * its prefill run in chunks of 4 tokens.
 */
class LogprobsTest {
  private static final int TOP = 3;

  /**
   * The reference logits agree within 1e-4; a log-softmax adds the error of the log-sum, at most as
   * much again.
   */
  private static final double TOLERANCE = 2e-4;

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"})
  void greedyTokensCarryTransformersLogprobsOverGrpcAndHttp(String model) throws Exception {
    Config config =
        ConfigFactory.parseMap(
                Map.of(
                    "arrakis.router.serve.kv-cache-mb",
                    8,
                    "arrakis.router.serve.block-size",
                    4,
                    // prompts run in chunks of 4: prompt log-probabilities span steps
                    "arrakis.router.serve.max-step-tokens",
                    4))
            .withFallback(ConfigFactory.load());
    try (RouterHarness harness =
        RouterHarness.serving(ReferenceModels.dir(model), new SimpleMeterRegistry(), config)) {
      Serving serving = harness.router.serving().orElseThrow();
      OpenAiHttp http = harness.openHttp(config);
      List<Prompt> prompts = ReferenceModels.prompts(model);
      for (int p = 0; p < prompts.size(); p++) {
        Expected want = Expected.of(model, p);
        grpcMatches(harness, prompts.get(p), want, ReferenceModels.promptLogprobs(model, p));
        if (prompts.get(p).chat() != null) {
          chatMatches(http, serving, model, prompts.get(p), want);
        }
      }
      Expected first = Expected.of(model, 0);
      completionMatches(http, serving, model, prompts.get(0), first);
      sampledLogprobsAreTheModels(harness, prompts.get(0), first);
      echoedPromptsCarryTransformersLogprobs(http, serving, model, prompts);
    }
  }

  private static void grpcMatches(
      RouterHarness harness, Prompt p, Expected want, double[][] wantPrompt) throws Exception {
    GenerateStream s =
        GenerateStream.start(
            harness.channel,
            GenerateServiceTest.ids(
                "lp",
                p.ids(),
                GenerateServiceTest.greedy(p.greedy().length).toBuilder()
                    .setLogprobs(TOP)
                    .setPromptLogprobs(TOP)
                    .build()));
    assertThat(s.await()).isEqualTo(Status.OK);
    assertThat(s.tokens()).containsExactly(p.greedy());
    List<TokenLogprob> prompt = s.messages.get(0).getPromptLogprobsList();
    assertThat(prompt).as("in the first response").hasSize(p.ids().length - 1);
    for (int k = 1; k < p.ids().length; k++) {
      TokenLogprob lp = prompt.get(k - 1);
      assertThat(lp.getTokenId()).isEqualTo(p.ids()[k]);
      assertThat((double) lp.getLogprob())
          .as("prompt token %d", k)
          .isCloseTo(wantPrompt[k - 1][p.ids()[k]], within(TOLERANCE));
      assertThat(lp.getTopTokenIdsCount()).isEqualTo(TOP);
      for (int r = 0; r < TOP; r++) {
        assertThat((double) lp.getTopLogprobs(r))
            .isCloseTo(wantPrompt[k - 1][lp.getTopTokenIds(r)], within(TOLERANCE));
      }
    }
    List<TokenLogprob> got = new ArrayList<>();
    for (GenerateResponse m : s.messages.subList(1, s.messages.size())) {
      assertThat(m.getPromptLogprobsCount()).as("only in the first response").isZero();
    }
    for (GenerateResponse m : s.messages) {
      assertThat(m.getLogprobsCount())
          .as("one per token of the chunk")
          .isEqualTo(m.getTokenIdsCount());
      got.addAll(m.getLogprobsList());
    }
    for (int t = 0; t < got.size(); t++) {
      TokenLogprob lp = got.get(t);
      assertThat(lp.getTokenId()).isEqualTo(p.greedy()[t]);
      assertThat((double) lp.getLogprob())
          .as("step %d", t)
          .isCloseTo(want.of(t, p.greedy()[t]), within(TOLERANCE));
      assertThat(lp.getTopTokenIdsCount()).isEqualTo(TOP);
      for (int k = 0; k < TOP; k++) {
        double value = lp.getTopLogprobs(k);
        assertThat(value)
            .as("step %d, rank %d", t, k)
            .isCloseTo(want.ranked(t, k), within(TOLERANCE));
        assertThat(value).isCloseTo(want.of(t, lp.getTopTokenIds(k)), within(TOLERANCE));
      }
    }
  }

  /** Temperature changes which token is drawn, not what the model gave each token. */
  private static void sampledLogprobsAreTheModels(RouterHarness harness, Prompt p, Expected want)
      throws Exception {
    SamplingParams hot =
        SamplingParams.newBuilder()
            .setMaxTokens(1)
            .setTemperature(2f)
            .setSeed(3)
            .setLogprobs(TOP)
            .build();
    GenerateStream s =
        GenerateStream.start(harness.channel, GenerateServiceTest.ids("hot", p.ids(), hot));
    assertThat(s.await()).isEqualTo(Status.OK);
    TokenLogprob lp = s.messages.get(0).getLogprobs(0);
    assertThat((double) lp.getLogprob()).isCloseTo(want.of(0, lp.getTokenId()), within(TOLERANCE));
    for (int k = 0; k < TOP; k++) {
      assertThat((double) lp.getTopLogprobs(k)).isCloseTo(want.ranked(0, k), within(TOLERANCE));
    }
  }

  private static void completionMatches(
      OpenAiHttp http, Serving serving, String model, Prompt p, Expected want) throws Exception {
    ObjectNode body =
        OpenAiHttp.JSON
            .createObjectNode()
            .put("model", model)
            .put("max_tokens", p.greedy().length)
            .put("temperature", 0)
            .put("ignore_eos", true)
            .put("logprobs", TOP);
    body.set("prompt", OpenAiHttp.JSON.valueToTree(p.ids()));
    OpenAiHttp.Answer a = http.post("/v1/completions", body);
    assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
    JsonNode lp = a.body().path("choices").get(0).path("logprobs");
    int offset = 0;
    for (int t = 0; t < p.greedy().length; t++) {
      String text = serving.tokenText(p.greedy()[t]);
      assertThat(lp.path("tokens").get(t).asText()).isEqualTo(text);
      double value = lp.path("token_logprobs").get(t).asDouble();
      assertThat(value).as("step %d", t).isCloseTo(want.of(t, p.greedy()[t]), within(TOLERANCE));
      JsonNode top = lp.path("top_logprobs").get(t);
      assertThat(top.size())
          .as("the top %d and the chosen token, by text", TOP)
          .isBetween(1, TOP + 1);
      assertThat(top.path(text).asDouble()).isEqualTo(value);
      double best = Double.NEGATIVE_INFINITY;
      for (JsonNode v : top) {
        best = Math.max(best, v.asDouble());
      }
      assertThat(best).isCloseTo(want.ranked(t, 0), within(TOLERANCE));
      assertThat(lp.path("text_offset").get(t).asInt()).isEqualTo(offset);
      offset += text.length();
    }

    OpenAiHttp.Stream s = http.stream("/v1/completions", body.put("stream", true));
    ObjectNode streamed = OpenAiHttp.JSON.createObjectNode();
    for (String field : List.of("tokens", "token_logprobs", "text_offset")) {
      streamed.putArray(field);
    }
    for (JsonNode c : s.chunks()) {
      JsonNode chunk = c.path("choices").get(0).path("logprobs");
      for (String field : List.of("tokens", "token_logprobs", "text_offset")) {
        ((ArrayNode) streamed.get(field)).addAll((ArrayNode) chunk.path(field));
      }
    }
    for (String field : List.of("tokens", "token_logprobs", "text_offset")) {
      assertThat(streamed.get(field)).as("streamed %s", field).isEqualTo(lp.get(field));
    }
  }

  /**
   * An echo with logprobs (what evaluation harnesses score prompts with): the prompt's text and
   * tokens lead the answer, the first with no log-probability, every later one with transformers'
   * (the log-softmax of the logits at the position before it, {@code logits_P}) — for every prompt
   * at once, so that their scored chunks share steps.
   */
  private static void echoedPromptsCarryTransformersLogprobs(
      OpenAiHttp http, Serving serving, String model, List<Prompt> prompts) throws Exception {
    List<CompletableFuture<OpenAiHttp.Answer>> answers = new ArrayList<>();
    for (Prompt p : prompts) {
      ObjectNode body =
          OpenAiHttp.JSON
              .createObjectNode()
              .put("model", model)
              .put("max_tokens", 1)
              .put("temperature", 0)
              .put("logprobs", 1)
              .put("echo", true);
      body.set("prompt", OpenAiHttp.JSON.valueToTree(p.ids()));
      answers.add(
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return http.post("/v1/completions", body);
                } catch (Exception e) {
                  throw new CompletionException(e);
                }
              }));
    }
    for (int i = 0; i < prompts.size(); i++) {
      Prompt p = prompts.get(i);
      OpenAiHttp.Answer a = answers.get(i).get(120, TimeUnit.SECONDS);
      assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
      JsonNode choice = a.body().path("choices").get(0);
      assertThat(choice.path("text").asText())
          .startsWith(serving.decode(p.ids()))
          .hasSizeGreaterThanOrEqualTo(serving.decode(p.ids()).length());
      JsonNode lp = choice.path("logprobs");
      int n = p.ids().length;
      assertThat(lp.path("tokens").size()).as("the prompt's tokens and one more").isEqualTo(n + 1);
      assertThat(lp.path("token_logprobs").get(0).isNull()).isTrue();
      assertThat(lp.path("top_logprobs").get(0).isNull()).isTrue();
      double[][] want = ReferenceModels.promptLogprobs(model, i);
      int offset = 0;
      for (int k = 0; k < n; k++) {
        String text = serving.tokenText(p.ids()[k]);
        assertThat(lp.path("tokens").get(k).asText()).isEqualTo(text);
        assertThat(lp.path("text_offset").get(k).asInt()).isEqualTo(offset);
        offset += text.length();
        if (k > 0) {
          double value = lp.path("token_logprobs").get(k).asDouble();
          assertThat(value)
              .as("%s prompt %d token %d", model, i, k)
              .isCloseTo(want[k - 1][p.ids()[k]], within(TOLERANCE));
          double best = Double.NEGATIVE_INFINITY;
          for (double v : want[k - 1]) {
            best = Math.max(best, v);
          }
          double listedBest = Double.NEGATIVE_INFINITY;
          for (JsonNode v : lp.path("top_logprobs").get(k)) {
            listedBest = Math.max(listedBest, v.asDouble());
          }
          assertThat(listedBest).isCloseTo(best, within(TOLERANCE));
        }
      }
      assertThat(lp.path("token_logprobs").get(n).asDouble())
          .as("the generated token")
          .isCloseTo(ReferenceModels.greedyLogprobs(model, i)[0][p.greedy()[0]], within(TOLERANCE));
    }
  }

  private static void chatMatches(
      OpenAiHttp http, Serving serving, String model, Prompt p, Expected want) throws Exception {
    ObjectNode body =
        OpenAiHttp.JSON
            .createObjectNode()
            .put("model", model)
            .put("max_completion_tokens", p.greedy().length)
            .put("temperature", 0)
            .put("ignore_eos", true)
            .put("logprobs", true)
            .put("top_logprobs", TOP);
    body.set("messages", p.chat());
    OpenAiHttp.Answer a = http.post("/v1/chat/completions", body);
    assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
    JsonNode content = a.body().path("choices").get(0).path("logprobs").path("content");
    assertThat(content.size()).isEqualTo(p.greedy().length);
    for (int t = 0; t < p.greedy().length; t++) {
      JsonNode e = content.get(t);
      String text = serving.tokenText(p.greedy()[t]);
      assertThat(e.path("token").asText()).isEqualTo(text);
      assertThat(HttpApiTest.ids(e.path("bytes")))
          .containsExactly(unsigned(text.getBytes(StandardCharsets.UTF_8)));
      assertThat(e.path("logprob").asDouble())
          .as("step %d", t)
          .isCloseTo(want.of(t, p.greedy()[t]), within(TOLERANCE));
      assertThat(e.path("top_logprobs").size()).isEqualTo(TOP);
      for (int k = 0; k < TOP; k++) {
        assertThat(e.path("top_logprobs").get(k).path("logprob").asDouble())
            .isCloseTo(want.ranked(t, k), within(TOLERANCE));
      }
    }

    OpenAiHttp.Stream s = http.stream("/v1/chat/completions", body.put("stream", true));
    List<JsonNode> streamed = new ArrayList<>();
    List<JsonNode> chunks = s.chunks();
    assertThat(chunks.get(0).path("choices").get(0).path("logprobs").isNull())
        .as("the role chunk has no tokens")
        .isTrue();
    for (JsonNode c : chunks.subList(1, chunks.size())) {
      c.path("choices").get(0).path("logprobs").path("content").forEach(streamed::add);
    }
    assertThat(streamed).containsExactlyElementsOf(content);
  }

  private static int[] unsigned(byte[] bytes) {
    int[] out = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      out[i] = bytes[i] & 0xff;
    }
    return out;
  }

  /** transformers' log-probabilities at each greedy step of a prompt, and ranked. */
  private record Expected(double[][] logprobs, double[][] sorted) {
    static Expected of(String model, int prompt) throws Exception {
      double[][] lp = ReferenceModels.greedyLogprobs(model, prompt);
      double[][] sorted = new double[lp.length][];
      for (int t = 0; t < lp.length; t++) {
        sorted[t] = lp[t].clone();
        Arrays.sort(sorted[t]);
      }
      return new Expected(lp, sorted);
    }

    double of(int step, int token) {
      return logprobs[step][token];
    }

    /** The step's k-th largest log-probability (0: the largest). */
    double ranked(int step, int k) {
      return sorted[step][sorted[step].length - 1 - k];
    }
  }
}
