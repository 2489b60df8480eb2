package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

/**
 * The router's OpenAI-compatible HTTP API on a real cluster, checked against transformers' greedy
 * tokens: every ids prompt of expected.json through {@code /v1/completions}, whole and streamed,
 * and the chat prompt through {@code /v1/chat/completions}, with {@code return_token_ids}; and the
 * official {@code openai} npm client (loadtest/src/test/node/openai-check, installed by ./test);
 * the greedy tokens' log-probabilities, and an echoed prompt's, are transformers' too.
 */
final class HttpReferenceChecks {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final double LOGPROB_TOLERANCE = 2e-4;
  private static final Path OPENAI_CHECK = Path.of("src", "test", "node", "openai-check");

  /** The router's KV-cache block ({@code arrakis.router.serve.block-size}'s default). */
  private static final int BLOCK = 16;

  private static final HttpClient CLIENT =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(10))
          .build();

  private HttpReferenceChecks() {}

  static void assertReferenceCompletions(LocalCluster cluster, String model) throws Exception {
    String base =
        cluster
            .routerHttpUrl()
            .orElseThrow(() -> new AssertionError("the router reports no HTTP port"));
    String name = ReferenceModels.dir(model).getFileName().toString();
    List<Prompt> prompts = ReferenceModels.prompts(model);
    for (int i = 0; i < prompts.size(); i++) {
      Prompt p = prompts.get(i);
      ObjectNode body = request(name, p.greedy().length).put("logprobs", 1);
      body.set("prompt", JSON.valueToTree(p.ids()));
      JsonNode whole = post(base + "/v1/completions", body);
      JsonNode choice = whole.path("choices").get(0);
      assertThat(ints(choice.path("token_ids")))
          .as("%s prompt %d", model, i)
          .containsExactly(p.greedy());
      assertLogprobs(
          choice.path("logprobs").path("token_logprobs"),
          ReferenceModels.greedyLogprobs(model, i),
          p.greedy());
      assertThat(choice.path("finish_reason").asText()).isEqualTo("length");
      assertThat(whole.path("usage").path("prompt_tokens").asInt()).isEqualTo(p.ids().length);
      assertThat(whole.path("usage").path("completion_tokens").asInt())
          .isEqualTo(p.greedy().length);

      ObjectNode echo = request(name, 1).put("logprobs", 1).put("echo", true);
      echo.set("prompt", JSON.valueToTree(p.ids()));
      JsonNode echoed = post(base + "/v1/completions", echo).path("choices").get(0);
      assertPromptLogprobs(
          echoed.path("logprobs").path("token_logprobs"),
          ReferenceModels.promptLogprobs(model, i),
          p.ids());

      // the same prompt again, now on its cached blocks (prefix caching): the same tokens
      body.put("stream", true);
      body.putObject("stream_options").put("include_usage", true);
      List<Integer> streamed = new ArrayList<>();
      JsonNode usage = null;
      for (JsonNode chunk : stream(base + "/v1/completions", body)) {
        chunk
            .path("choices")
            .forEach(c -> c.path("token_ids").forEach(t -> streamed.add(t.asInt())));
        usage = chunk.path("usage").isObject() ? chunk.path("usage") : usage;
      }
      assertThat(streamed).as("%s prompt %d streamed", model, i).containsExactly(boxed(p.greedy()));
      assertThat(usage.path("prompt_tokens_details").path("cached_tokens").asInt())
          .as("%s prompt %d: tokens served from the prefix cache the second time", model, i)
          .isEqualTo(cachedOnRepeat(p.ids().length));

      if (p.chat() != null) {
        ObjectNode chat = request(name, p.greedy().length);
        chat.set("messages", p.chat());
        JsonNode answer = post(base + "/v1/chat/completions", chat);
        assertThat(ints(answer.path("choices").get(0).path("token_ids")))
            .as("%s chat %d", model, i)
            .containsExactly(p.greedy());
        assertThat(answer.path("usage").path("prompt_tokens").asInt()).isEqualTo(p.ids().length);
        chat.put("stream", true);
        List<Integer> chatStreamed = new ArrayList<>();
        for (JsonNode chunk : stream(base + "/v1/chat/completions", chat)) {
          chunk
              .path("choices")
              .forEach(c -> c.path("token_ids").forEach(t -> chatStreamed.add(t.asInt())));
        }
        assertThat(chatStreamed)
            .as("%s chat %d streamed", model, i)
            .containsExactly(boxed(p.greedy()));
      }
    }
  }

  /**
   * The official openai npm client: models.list(), a completion of the first ids prompt, a streamed
   * chat completion of the chat prompt; tokens as transformers', usage numbers right.
   */
  static void assertOpenAiClient(LocalCluster cluster, String model) throws Exception {
    Path dir = OPENAI_CHECK.toAbsolutePath();
    assertThat(dir.resolve("node_modules/openai/package.json"))
        .as(
            "the openai npm package is installed by the test command's prerequisites: run ./test --install-only")
        .isRegularFile();
    String name = ReferenceModels.dir(model).getFileName().toString();
    List<Prompt> prompts = ReferenceModels.prompts(model);
    Prompt first = prompts.get(0);
    int chatIndex =
        IntStream.range(0, prompts.size())
            .filter(i -> prompts.get(i).chat() != null)
            .findFirst()
            .orElseThrow();
    Prompt chat = prompts.get(chatIndex);
    int n = first.greedy().length;
    ObjectNode input = JSON.createObjectNode().put("model", name).put("max_tokens", n);
    input.set("prompt_ids", JSON.valueToTree(first.ids()));
    input.set("chat", chat.chat());
    ProcessBuilder pb =
        new ProcessBuilder("node", "check.mjs").directory(dir.toFile()).redirectErrorStream(true);
    Map<String, String> env = pb.environment();
    env.put("ARRAKIS_BASE_URL", cluster.routerHttpUrl().orElseThrow() + "/v1");
    env.put("ARRAKIS_CHECK", JSON.writeValueAsString(input));
    Process node = pb.start();
    String output;
    try (InputStream in = node.getInputStream()) {
      output = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    assertThat(node.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(node.exitValue()).as("node check.mjs:%n%s", output).isZero();
    String last = output.strip().lines().reduce((a, b) -> b).orElseThrow();
    JsonNode got = JSON.readTree(last);
    assertThat(got.path("models")).extracting(JsonNode::asText).containsExactly(name);

    JsonNode c = got.path("completion");
    assertThat(ints(c.path("token_ids"))).containsExactly(first.greedy());
    assertLogprobs(
        c.path("token_logprobs"), ReferenceModels.greedyLogprobs(model, 0), first.greedy());
    assertThat(c.path("finish_reason").asText()).isEqualTo("length");
    assertUsage(c.path("usage"), first.ids().length, n);

    JsonNode s = got.path("chat");
    assertThat(ints(s.path("token_ids"))).containsExactly(chat.greedy());
    List<JsonNode> entries = new ArrayList<>();
    s.path("logprobs").forEach(entries::add);
    assertLogprobs(
        JSON.valueToTree(entries.stream().map(e -> e.path("logprob")).toList()),
        ReferenceModels.greedyLogprobs(model, chatIndex),
        chat.greedy());
    entries.forEach(e -> assertThat(e.path("top_logprobs").size()).isEqualTo(2));
    assertThat(s.path("content").asText()).isNotEmpty();
    assertThat(s.path("finish_reason").asText()).isEqualTo("length");
    assertThat(s.path("chunks").asInt()).isGreaterThan(2); // the role, token chunks, the usage
    assertUsage(s.path("usage"), chat.ids().length, n);
    assertThat(
            got.path("again")
                .path("usage")
                .path("prompt_tokens_details")
                .path("cached_tokens")
                .asInt())
        .as("the conversation's prompt tokens served from the prefix cache the second time")
        .isEqualTo(cachedOnRepeat(chat.ids().length));
  }

  /**
   * Prompt tokens a repeated prompt finds cached: its full blocks, all but the last token (whose
   * logits must be computed).
   */
  private static int cachedOnRepeat(int promptTokens) {
    return (promptTokens - 1) / BLOCK * BLOCK;
  }

  /**
   * Each greedy token's log-probability is transformers' (see {@link
   * ReferenceModels#greedyLogprobs}).
   */
  private static void assertLogprobs(JsonNode got, double[][] want, int[] greedy) {
    assertThat(got.size()).isEqualTo(greedy.length);
    for (int t = 0; t < greedy.length; t++) {
      assertThat(got.get(t).asDouble())
          .as("log-probability of step %d", t)
          .isCloseTo(want[t][greedy[t]], within(LOGPROB_TOLERANCE));
    }
  }

  /**
   * An echoed prompt's log-probabilities: none for its first token, transformers' for the others
   * (the log-softmax of the logits at the position before, {@code logits_P}).
   */
  private static void assertPromptLogprobs(JsonNode got, double[][] want, int[] prompt) {
    assertThat(got.size())
        .as("the prompt's tokens and the generated one")
        .isEqualTo(prompt.length + 1);
    assertThat(got.get(0).isNull()).isTrue();
    for (int k = 1; k < prompt.length; k++) {
      assertThat(got.get(k).asDouble())
          .as("log-probability of prompt token %d", k)
          .isCloseTo(want[k - 1][prompt[k]], within(LOGPROB_TOLERANCE));
    }
  }

  private static void assertUsage(JsonNode usage, int prompt, int completion) {
    assertThat(usage.path("prompt_tokens").asInt()).isEqualTo(prompt);
    assertThat(usage.path("completion_tokens").asInt()).isEqualTo(completion);
    assertThat(usage.path("total_tokens").asInt()).isEqualTo(prompt + completion);
  }

  private static ObjectNode request(String model, int maxTokens) {
    return JSON.createObjectNode()
        .put("model", model)
        .put("max_tokens", maxTokens)
        .put("temperature", 0)
        .put("return_token_ids", true);
  }

  private static JsonNode post(String url, JsonNode body) throws Exception {
    HttpResponse<String> r =
        CLIENT.send(builder(url, body).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as("%s: %s", url, r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  /** The JSON chunks of a streamed answer, which must end with data: [DONE]. */
  private static List<JsonNode> stream(String url, JsonNode body) throws Exception {
    HttpResponse<InputStream> r =
        CLIENT.send(builder(url, body).build(), HttpResponse.BodyHandlers.ofInputStream());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type"))
        .hasValueSatisfying(t -> assertThat(t).startsWith("text/event-stream"));
    List<JsonNode> chunks = new ArrayList<>();
    String last = null;
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.startsWith("data: ")) {
          last = line.substring(6);
          if (!last.equals("[DONE]")) {
            chunks.add(JSON.readTree(last));
          }
        }
      }
    }
    assertThat(last).isEqualTo("[DONE]");
    return chunks;
  }

  private static HttpRequest.Builder builder(String url, JsonNode body) throws Exception {
    return HttpRequest.newBuilder(URI.create(url))
        .timeout(Duration.ofSeconds(120))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static Integer[] boxed(int[] a) {
    return Arrays.stream(a).boxed().toArray(Integer[]::new);
  }
}
