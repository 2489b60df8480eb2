package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.router.http.HttpAccess;
import io.arrakis.router.http.HttpApi;
import io.arrakis.router.http.HttpSettings;
import io.arrakis.router.serve.Scheduler;
import io.arrakis.router.serve.Serving;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The OpenAI-compatible HTTP API over loopback on a router serving the Qwen2-MoE reference model
 * (routed experts on two nodes in this JVM behind the real dispatch path): completions and chat
 * completions, whole and streamed, give transformers' greedy tokens; usage, finish reasons, models,
 * health; the bearer token; errors in OpenAI's shape with their statuses (400, 401, 404, 429, 503);
 * a client that closes its connection cancels its request.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpApiTest {
  static final String MODEL = "qwen2_moe";
  static final int MAX_SEQUENCES = 6;
  RouterHarness harness;
  Serving serving;
  OpenAiHttp http;
  SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeAll
  void start() throws Exception {
    Path dir = ReferenceModels.dir(MODEL);
    Config config =
        ConfigFactory.parseMap(
                Map.of(
                    "arrakis.router.serve.kv-cache-mb",
                    8,
                    "arrakis.router.serve.block-size",
                    4,
                    "arrakis.router.serve.max-sequences",
                    MAX_SEQUENCES))
            .withFallback(ConfigFactory.load());
    harness = RouterHarness.serving(dir, registry, config);
    serving = harness.router.serving().orElseThrow();
    http = harness.openHttp(config);
  }

  @AfterAll
  void stop() throws Exception {
    harness.close();
  }

  static ObjectNode completion(Object prompt, int maxTokens) {
    ObjectNode r =
        OpenAiHttp.JSON
            .createObjectNode()
            .put("model", MODEL)
            .put("max_tokens", maxTokens)
            .put("temperature", 0)
            .put("return_token_ids", true);
    r.set("prompt", OpenAiHttp.JSON.valueToTree(prompt));
    return r;
  }

  static ObjectNode chat(JsonNode messages, int maxTokens) {
    ObjectNode r =
        OpenAiHttp.JSON
            .createObjectNode()
            .put("model", MODEL)
            .put("max_completion_tokens", maxTokens)
            .put("temperature", 0)
            .put("return_token_ids", true);
    r.set("messages", messages);
    return r;
  }

  static int[] ids(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  @Test
  void completionsOfIdsAndTextPromptsGiveTransformersGreedyTokens() throws Exception {
    try (ModelTokenizer tokenizer = ModelTokenizer.open(ReferenceModels.dir(MODEL))) {
      for (Prompt p : ReferenceModels.prompts(MODEL)) {
        OpenAiHttp.Answer a = http.post("/v1/completions", completion(p.ids(), p.greedy().length));
        assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
        JsonNode choice = a.body().path("choices").get(0);
        assertThat(ids(choice.path("token_ids"))).containsExactly(p.greedy());
        assertThat(choice.path("text").asText())
            .isEqualTo(tokenizer.tokenizer().decode(p.greedy(), true));
        assertThat(choice.path("finish_reason").asText()).isEqualTo("length");
        assertThat(a.body().path("object").asText()).isEqualTo("text_completion");
        assertThat(a.body().path("model").asText()).isEqualTo(MODEL);
        assertThat(a.body().path("id").asText()).startsWith("cmpl-");
        JsonNode usage = a.body().path("usage");
        assertThat(usage.path("prompt_tokens").asInt()).isEqualTo(p.ids().length);
        assertThat(usage.path("completion_tokens").asInt()).isEqualTo(p.greedy().length);
        assertThat(usage.path("total_tokens").asInt())
            .isEqualTo(p.ids().length + p.greedy().length);
        if (p.text() != null && p.chat() == null) {
          OpenAiHttp.Answer t =
              http.post("/v1/completions", completion(p.text(), p.greedy().length));
          assertThat(ids(t.body().path("choices").get(0).path("token_ids")))
              .containsExactly(p.greedy());
          OpenAiHttp.Answer listOfOne =
              http.post("/v1/completions", completion(List.of(p.text()), p.greedy().length));
          assertThat(ids(listOfOne.body().path("choices").get(0).path("token_ids")))
              .containsExactly(p.greedy());
        }
      }
    }
  }

  @Test
  void streamedCompletionSendsEveryTokenInChunksThenUsageThenDone() throws Exception {
    Prompt p = ReferenceModels.prompts(MODEL).get(1);
    ObjectNode body = completion(p.ids(), p.greedy().length).put("stream", true);
    body.putObject("stream_options").put("include_usage", true);
    OpenAiHttp.Stream s = http.stream("/v1/completions", body);
    assertThat(s.status()).isEqualTo(200);
    assertThat(s.data()).last().isEqualTo("[DONE]");
    List<JsonNode> chunks = s.chunks();
    JsonNode usageChunk = chunks.get(chunks.size() - 1);
    assertThat(usageChunk.path("choices")).isEmpty();
    assertThat(usageChunk.path("usage").path("completion_tokens").asInt())
        .isEqualTo(p.greedy().length);
    assertThat(usageChunk.path("usage").path("prompt_tokens").asInt()).isEqualTo(p.ids().length);
    List<Integer> tokens = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    List<JsonNode> tokenChunks = chunks.subList(0, chunks.size() - 1);
    for (JsonNode c : tokenChunks) {
      assertThat(c.path("object").asText()).isEqualTo("text_completion");
      assertThat(c.path("usage").isNull()).isTrue();
      JsonNode choice = c.path("choices").get(0);
      choice.path("token_ids").forEach(t -> tokens.add(t.asInt()));
      text.append(choice.path("text").asText());
    }
    assertThat(tokens).containsExactly(Arrays.stream(p.greedy()).boxed().toArray(Integer[]::new));
    assertThat(tokenChunks.subList(0, tokenChunks.size() - 1))
        .allSatisfy(
            c -> assertThat(c.path("choices").get(0).path("finish_reason").isNull()).isTrue());
    assertThat(
            tokenChunks
                .get(tokenChunks.size() - 1)
                .path("choices")
                .get(0)
                .path("finish_reason")
                .asText())
        .isEqualTo("length");
    try (ModelTokenizer tokenizer = ModelTokenizer.open(ReferenceModels.dir(MODEL))) {
      assertThat(text.toString()).isEqualTo(tokenizer.tokenizer().decode(p.greedy(), true));
    }
  }

  @Test
  void chatCompletionWholeAndStreamedRendersTheChatTemplate() throws Exception {
    Prompt p =
        ReferenceModels.prompts(MODEL).stream()
            .filter(x -> x.chat() != null)
            .findFirst()
            .orElseThrow();
    OpenAiHttp.Answer a = http.post("/v1/chat/completions", chat(p.chat(), p.greedy().length));
    assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
    JsonNode choice = a.body().path("choices").get(0);
    assertThat(a.body().path("object").asText()).isEqualTo("chat.completion");
    assertThat(choice.path("message").path("role").asText()).isEqualTo("assistant");
    assertThat(ids(choice.path("token_ids"))).containsExactly(p.greedy());
    assertThat(a.body().path("usage").path("prompt_tokens").asInt()).isEqualTo(p.ids().length);

    OpenAiHttp.Stream s =
        http.stream("/v1/chat/completions", chat(p.chat(), p.greedy().length).put("stream", true));
    List<JsonNode> chunks = s.chunks();
    assertThat(chunks.get(0).path("choices").get(0).path("delta").path("role").asText())
        .isEqualTo("assistant");
    List<Integer> tokens = new ArrayList<>();
    StringBuilder content = new StringBuilder();
    for (JsonNode c : chunks) {
      assertThat(c.path("object").asText()).isEqualTo("chat.completion.chunk");
      assertThat(c.has("usage")).isFalse();
      c.path("choices").get(0).path("token_ids").forEach(t -> tokens.add(t.asInt()));
      content.append(c.path("choices").get(0).path("delta").path("content").asText());
    }
    assertThat(tokens).containsExactly(Arrays.stream(p.greedy()).boxed().toArray(Integer[]::new));
    assertThat(content.toString()).isEqualTo(choice.path("message").path("content").asText());
    assertThat(s.data()).last().isEqualTo("[DONE]");
  }

  @Test
  void stopStringsEndTheCompletionWithFinishReasonStop() throws Exception {
    Prompt p = ReferenceModels.prompts(MODEL).get(0);
    OpenAiHttp.Answer whole = http.post("/v1/completions", completion(p.ids(), p.greedy().length));
    String text = whole.body().path("choices").get(0).path("text").asText();
    String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
    ObjectNode body = completion(p.ids(), p.greedy().length);
    body.putArray("stop").add(stop);
    OpenAiHttp.Answer a = http.post("/v1/completions", body);
    assertThat(a.body().path("choices").get(0).path("finish_reason").asText()).isEqualTo("stop");
    assertThat(a.body().path("choices").get(0).path("text").asText())
        .isEqualTo(text.substring(0, text.indexOf(stop)));
  }

  @Test
  void modelsAndHealth() throws Exception {
    OpenAiHttp.Answer models = http.get("/v1/models");
    assertThat(models.status()).isEqualTo(200);
    assertThat(models.body().path("object").asText()).isEqualTo("list");
    assertThat(models.body().path("data")).hasSize(1);
    assertThat(models.body().path("data").get(0).path("id").asText()).isEqualTo(MODEL);
    assertThat(models.body().path("data").get(0).path("max_model_len").asInt())
        .isEqualTo(serving.model().contextTokens());
    assertThat(http.get("/v1/models/" + MODEL).body().path("id").asText()).isEqualTo(MODEL);
    assertThat(http.get("/v1/models/gpt-4").status()).isEqualTo(404);
    OpenAiHttp.Answer health = http.get("/health");
    assertThat(health.status()).isEqualTo(200);
    assertThat(health.body().path("status").asText()).isEqualTo("ok");
  }

  @Test
  void errorsComeInOpenAisShapeWithTheirStatus() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(0).ids();
    OpenAiHttp.Answer unknown =
        http.post("/v1/completions", completion(prompt, 4).put("model", "gpt-4"));
    assertThat(unknown.status()).isEqualTo(404);
    assertThat(unknown.error().path("param").asText()).isEqualTo("model");
    assertThat(unknown.error().path("code").asText()).isEqualTo("model_not_found");
    assertThat(unknown.error().path("message").asText()).contains("gpt-4", MODEL);

    OpenAiHttp.Answer n = http.post("/v1/completions", completion(prompt, 4).put("n", 2));
    assertThat(n.status()).isEqualTo(400);
    assertThat(n.error().path("type").asText()).isEqualTo("invalid_request_error");
    assertThat(n.error().path("param").asText()).isEqualTo("n");

    ObjectNode options = completion(prompt, 4);
    options.putObject("stream_options").put("include_usage", true);
    assertThat(http.post("/v1/completions", options).error().path("param").asText())
        .isEqualTo("stream_options");
    assertThat(
            http.post("/v1/completions", completion(new int[] {1, 512}, 4))
                .error()
                .path("param")
                .asText())
        .isEqualTo("prompt");
    ObjectNode noMessages = chat(OpenAiHttp.JSON.createArrayNode(), 4);
    assertThat(http.post("/v1/chat/completions", noMessages).error().path("param").asText())
        .isEqualTo("messages");
    ArrayNode badRole = OpenAiHttp.JSON.createArrayNode();
    badRole.addObject().put("role", 3).put("content", "hi");
    assertThat(http.post("/v1/chat/completions", chat(badRole, 4)).error().path("param").asText())
        .isEqualTo("messages[0].role");
    ObjectNode longStop = completion(prompt, 4);
    longStop.putArray("stop").add("x".repeat(serving.settings().maxStopLength() + 1));
    OpenAiHttp.Answer stop = http.post("/v1/completions", longStop);
    assertThat(stop.status()).isEqualTo(400);
    assertThat(stop.error().path("param").asText()).isEqualTo("stop");

    assertThat(http.get("/v1/nothing").status()).isEqualTo(404);
    assertThat(http.get("/v1/completions").status()).isEqualTo(405);
  }

  @Test
  void aBearerTokenGuardsTheApiButNotHealth() throws Exception {
    HttpApi guarded =
        HttpApi.start(
            harness.router.system(),
            "127.0.0.1",
            HttpSettings.from(ConfigFactory.load()).withPort(0),
            serving,
            HttpAccess.of("s3cret", false),
            null,
            Duration.ofMinutes(1),
            32);
    try {
      OpenAiHttp none = new OpenAiHttp(guarded.port());
      OpenAiHttp wrong = new OpenAiHttp(guarded.port(), "guess");
      OpenAiHttp right = new OpenAiHttp(guarded.port(), "s3cret");
      OpenAiHttp.Answer missing = none.post("/v1/completions", completion(new int[] {1, 2}, 2));
      assertThat(missing.status()).isEqualTo(401);
      assertThat(missing.error().path("message").asText())
          .contains("missing credentials")
          .doesNotContain("s3cret");
      assertThat(wrong.get("/v1/models").status()).isEqualTo(401);
      assertThat(wrong.get("/v1/models").error().path("message").asText())
          .contains("invalid bearer token");
      assertThat(none.get("/health").status()).isEqualTo(200);
      assertThat(right.get("/v1/models").status()).isEqualTo(200);
      assertThat(right.post("/v1/completions", completion(new int[] {1, 2}, 2)).status())
          .isEqualTo(200);
    } finally {
      guarded.stop(Duration.ofSeconds(1));
    }
  }

  /** Past max-sequences: 429 at once, in OpenAI's shape; the accepted requests complete. */
  @Test
  void pastTheAdmissionLimitRequestsGet429() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(1).ids();
    List<CompletableFuture<OpenAiHttp.Answer>> answers = new ArrayList<>();
    for (int i = 0; i < 3 * MAX_SEQUENCES; i++) {
      answers.add(
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return http.post("/v1/completions", completion(prompt, 40));
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
              }));
    }
    int refused = 0;
    for (CompletableFuture<OpenAiHttp.Answer> f : answers) {
      OpenAiHttp.Answer a = f.get(120, TimeUnit.SECONDS);
      if (a.status() == 429) {
        refused++;
        assertThat(a.error().path("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(a.error().path("message").asText()).contains("max-sequences");
      } else {
        assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
        assertThat(a.body().path("usage").path("completion_tokens").asInt()).isEqualTo(40);
      }
    }
    assertThat(refused).isPositive();
    awaitIdle();
  }

  /**
   * With every expert node down, the request fails with 503 naming the problem; then it serves
   * again.
   */
  @Test
  void noExpertNodeForALayerIs503() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(0).ids();
    harness.experts.values().forEach(e -> e.down = true);
    try {
      OpenAiHttp.Answer a = http.post("/v1/completions", completion(prompt, 4));
      assertThat(a.status()).as(a.body().toString()).isEqualTo(503);
      assertThat(a.error().path("type").asText()).isEqualTo("service_unavailable");
      OpenAiHttp.Stream s =
          http.stream("/v1/completions", completion(prompt, 4).put("stream", true));
      assertThat(s.status()).isEqualTo(503);
    } finally {
      harness.experts.values().forEach(e -> e.down = false);
    }
    awaitServing(prompt);
  }

  /**
   * A client that closes its connection, streamed or not, cancels its request: the KV blocks come
   * back.
   */
  @Test
  void aClientThatClosesItsConnectionCancelsItsRequest() throws Exception {
    int[] prompt = ReferenceModels.prompts(MODEL).get(2).ids();
    int maxTokens = serving.model().contextTokens() - prompt.length - 1;
    for (boolean stream : new boolean[] {true, false}) {
      double cancelled = cancelled();
      double generated = registry.get("arrakis_serve_generation_tokens").counter().count();
      ObjectNode body = completion(prompt, maxTokens).put("stream", stream).put("ignore_eos", true);
      byte[] json = OpenAiHttp.JSON.writeValueAsBytes(body);
      try (Socket socket = new Socket("127.0.0.1", port())) {
        OutputStream out = socket.getOutputStream();
        out.write(
            ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                    + json.length
                    + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(json);
        out.flush();
        if (stream) {
          InputStream in = socket.getInputStream();
          byte[] first = new byte[64];
          assertThat(in.read(first)).isPositive(); // the stream has started
          // slow nodes from here: the rest of the context takes seconds, so the request cannot
          // finish before the router sees the connection close (on a fast router it could)
          harness.experts.values().forEach(e -> e.delayMillis = 20);
        } else {
          awaitRunning();
        }
      }
      try {
        awaitIdle();
      } finally {
        harness.experts.values().forEach(e -> e.delayMillis = 0);
      }
      assertThat(cancelled()).as("stream %s", stream).isEqualTo(cancelled + 1);
      assertThat(registry.get("arrakis_serve_generation_tokens").counter().count() - generated)
          .isLessThan(maxTokens);
    }
  }

  private double cancelled() {
    return registry
        .get("arrakis_serve_requests_finished")
        .tag("reason", "cancelled")
        .counter()
        .count();
  }

  int port() {
    return harness.router.httpPort();
  }

  private Scheduler.State state() throws Exception {
    CompletionStage<Scheduler.State> ask =
        AskPattern.ask(
            serving.scheduler(),
            Scheduler.GetState::new,
            Duration.ofSeconds(5),
            harness.router.system().scheduler());
    return ask.toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private void awaitRunning() throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (state().running() == 0 && System.nanoTime() < until) {
      Thread.sleep(5);
    }
    assertThat(state().running()).isPositive();
  }

  /** Until no KV block is used and no sequence is left. */
  void awaitIdle() throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    Scheduler.State s;
    do {
      Thread.sleep(20);
      s = state();
    } while ((s.usedBlocks() > 0 || s.running() + s.waiting() > 0) && System.nanoTime() < until);
    assertThat(s.usedBlocks()).isZero();
    assertThat(s.running() + s.waiting()).isZero();
  }

  private void awaitServing(int[] prompt) throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    OpenAiHttp.Answer a;
    do {
      Thread.sleep(100);
      a = http.post("/v1/completions", completion(prompt, 2));
    } while (a.status() != 200 && System.nanoTime() < until);
    assertThat(a.status()).isEqualTo(200);
  }
}
