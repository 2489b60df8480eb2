package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.router.http.HttpAccess;
import io.arrakis.router.http.HttpSettings;
import io.arrakis.router.serve.Serving;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Hostile clients of the HTTP API: malformed JSON, wrong types, a 100 MB body (Content-Length and
 * chunked), 10,000 stop strings, max_tokens of 2^31, a prompt longer than the context, 1,000
 * connections opened and dropped. Each gets a clear 4xx in OpenAI's error shape naming the field,
 * costs bounded memory (the heap after a collection grows by far less than the body sent), and the
 * router serves a real completion after each.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileHttpTest {
  static final String MODEL = "qwen2_moe";
  static final long MAX_BODY = 1 << 20;
  RouterHarness harness;
  Serving serving;
  OpenAiHttp http;
  int port;
  int[] prompt;

  @BeforeAll
  void start() throws Exception {
    Path dir = ReferenceModels.dir(MODEL);
    Config config =
        ConfigFactory.parseMap(
                Map.of("arrakis.router.serve.kv-cache-mb", 8, "arrakis.router.serve.block-size", 4))
            .withFallback(ConfigFactory.load());
    harness = RouterHarness.serving(dir, new SimpleMeterRegistry(), config);
    serving = harness.router.serving().orElseThrow();
    port =
        harness
            .router
            .startHttp(
                "127.0.0.1",
                HttpSettings.from(config).withPort(0).withMaxBodyBytes(MAX_BODY),
                HttpAccess.open(),
                null)
            .port();
    http = new OpenAiHttp(port);
    prompt = ReferenceModels.prompts(MODEL).get(0).ids();
  }

  @AfterAll
  void stop() throws Exception {
    harness.close();
  }

  /** After every hostile request: a real completion still gets transformers' tokens. */
  @AfterEach
  void stillServes() throws Exception {
    ReferenceModels.Prompt p = ReferenceModels.prompts(MODEL).get(0);
    OpenAiHttp.Answer a =
        http.post("/v1/completions", HttpApiTest.completion(p.ids(), p.greedy().length));
    assertThat(a.status()).as(a.body().toString()).isEqualTo(200);
    assertThat(HttpApiTest.ids(a.body().path("choices").get(0).path("token_ids")))
        .containsExactly(p.greedy());
  }

  private void expect400(String body, String param, String... words) throws Exception {
    OpenAiHttp.Answer a = http.postRaw("/v1/completions", body);
    assertThat(a.status()).as(body.length() > 200 ? body.substring(0, 200) : body).isEqualTo(400);
    assertThat(a.error().path("type").asText()).isEqualTo("invalid_request_error");
    if (param == null) {
      assertThat(a.error().path("param").isNull()).isTrue();
    } else {
      assertThat(a.error().path("param").asText()).isEqualTo(param);
    }
    assertThat(a.error().path("message").asText()).contains(words);
    assertThat(a.error().path("message").asText().length())
        .isLessThan(600); // a hostile value is never echoed whole
  }

  @Test
  void malformedJsonIs400() throws Exception {
    expect400("{\"prompt\": [1, 2", null, "not valid JSON");
    expect400("", null, "JSON");
    expect400("[1, 2, 3]", null, "JSON object");
    expect400("{\"prompt\": \"a\"} trailing", null, "JSON");
    expect400("\"a string\"", null, "JSON object");
    expect400("[".repeat(100_000), null, "JSON");
    expect400("{\"prompt\": \"\\ud800 broken\", \"max_tokens\": }", null, "JSON");
  }

  @Test
  void wrongTypesAre400NamingTheField() throws Exception {
    expect400("{\"prompt\": 42}", "prompt", "string or an array");
    expect400("{\"prompt\": [1, \"two\"]}", "prompt", "prompt[1]");
    expect400("{\"prompt\": [1, -2]}", "prompt", "prompt[1]");
    expect400("{\"prompt\": [1, 2.5]}", "prompt", "prompt[1]");
    expect400("{\"prompt\": [1, 2], \"max_tokens\": \"ten\"}", "max_tokens", "integer");
    expect400("{\"prompt\": [1, 2], \"max_tokens\": 1.5}", "max_tokens", "integer");
    expect400("{\"prompt\": [1, 2], \"max_tokens\": 0}", "max_tokens", "between 1");
    expect400("{\"prompt\": [1, 2], \"temperature\": \"hot\"}", "temperature", "number");
    expect400("{\"prompt\": [1, 2], \"temperature\": -1}", "temperature", "number");
    expect400("{\"prompt\": [1, 2], \"top_p\": 7}", "top_p", "number");
    expect400("{\"prompt\": [1, 2], \"seed\": \"x\"}", "seed", "integer");
    expect400("{\"prompt\": [1, 2], \"stream\": \"yes\"}", "stream", "true or false");
    expect400("{\"prompt\": [1, 2], \"stop\": 5}", "stop", "string");
    expect400("{\"prompt\": [1, 2], \"stop\": [\"a\", 5]}", "stop", "stop[1]");
    expect400("{\"prompt\": [1, 2], \"model\": 7}", "model", "string");
    expect400("{\"prompt\": [1, 2], \"n\": 3}", "n", "1");
    expect400("{\"prompt\": [1, 2], \"logprobs\": 21}", "logprobs", "between 0 and 20");
    expect400("{\"prompt\": [1, 2], \"logprobs\": \"5\"}", "logprobs", "between 0 and 20");
    expect400("{\"prompt\": [1, 2], \"echo\": true, \"stream\": true}", "echo", "not streamed");
    expect400("{\"prompt\": [1, 2], \"echo\": \"yes\"}", "echo", "true or false");
    expect400("{\"prompt\": [1, 2], \"presence_penalty\": 2.5}", "presence_penalty", "between -2");
    expect400(
        "{\"prompt\": [1, 2], \"frequency_penalty\": \"high\"}", "frequency_penalty", "number");
    expect400("{\"prompt\": [1, 2], \"repetition_penalty\": 0}", "repetition_penalty", "above 0");
    expect400("{\"prompt\": [1, 2], \"repetition_penalty\": 11}", "repetition_penalty", "10");
    expect400("{\"prompt\": [1, 2], \"logit_bias\": [1]}", "logit_bias", "object");
    expect400("{\"prompt\": [1, 2], \"logit_bias\": {\"one\": 1}}", "logit_bias", "token ids");
    expect400("{\"prompt\": [1, 2], \"logit_bias\": {\"1\": 101}}", "logit_bias", "[-100, 100]");
    expect400("{\"prompt\": [1, 2], \"logit_bias\": {\"1\": \"x\"}}", "logit_bias", "numbers");
    expect400("{\"prompt\": [1, 2], \"logit_bias\": {\"4096\": 1}}", "logit_bias", "vocabulary");
    expect400("{\"prompt\": [1, 2], \"stop_token_ids\": 5}", "stop_token_ids", "array");
    expect400("{\"prompt\": [1, 2], \"stop_token_ids\": [1, -2]}", "stop_token_ids", "[1]");
    expect400("{\"prompt\": [1, 2], \"stop_token_ids\": [\"1\"]}", "stop_token_ids", "[0]");
    expect400("{\"prompt\": [1, 2], \"stop_token_ids\": [4096]}", "stop_token_ids", "vocabulary");
    StringBuilder stopIds = new StringBuilder("{\"prompt\": [1, 2], \"stop_token_ids\": [0");
    for (int i = 1; i < 1025; i++) {
      stopIds.append(", ").append(i);
    }
    expect400(stopIds.append("]}").toString(), "stop_token_ids", "at most 1024");
    expect400("{\"prompt\": [1, 2], \"min_tokens\": -1}", "min_tokens", ">= 0");
    expect400("{\"prompt\": [1, 2], \"min_tokens\": \"3\"}", "min_tokens", "integer");
    expect400(
        "{\"prompt\": [1, 2], \"max_tokens\": 4, \"min_tokens\": 5}",
        "min_tokens",
        "max_tokens (4)");
    expect400("{\"prompt\": [1, 2], \"cache_salt\": 5}", "cache_salt", "1 to 256");
    expect400("{\"prompt\": [1, 2], \"cache_salt\": \"\"}", "cache_salt", "1 to 256");
    expect400(
        "{\"prompt\": [1, 2], \"cache_salt\": \"" + "s".repeat(257) + "\"}",
        "cache_salt",
        "1 to 256");
    StringBuilder many = new StringBuilder("{\"prompt\": [1, 2], \"logit_bias\": {");
    for (int i = 0; i < 1025; i++) {
      many.append(i == 0 ? "" : ", ").append('"').append(i).append("\": 1");
    }
    expect400(many.append("}}").toString(), "logit_bias", "at most 1024");
    expect400(
        "{\"prompt\": [1, 2], \"stream\": true, \"stream_options\": {\"include_usage\": 1}}",
        "stream_options.include_usage",
        "true or false");
    expect400("{\"max_tokens\": 4}", "prompt", "required");
    expect400("{\"prompt\": [[1, 2], [3]]}", "prompt", "2 prompts");
    OpenAiHttp.Answer chat = http.postRaw("/v1/chat/completions", "{\"messages\": \"hello\"}");
    assertThat(chat.status()).isEqualTo(400);
    assertThat(chat.error().path("param").asText()).isEqualTo("messages");
    OpenAiHttp.Answer image =
        http.postRaw(
            "/v1/chat/completions",
            "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}");
    assertThat(image.status()).isEqualTo(400);
    assertThat(image.error().path("param").asText()).isEqualTo("messages[0].content");
  }

  @Test
  void tenThousandStopStringsAre400() throws Exception {
    ObjectNode body = HttpApiTest.completion(prompt, 4);
    ArrayNode stop = body.putArray("stop");
    for (int i = 0; i < 10_000; i++) {
      stop.add("stop-" + i);
    }
    expect400(OpenAiHttp.JSON.writeValueAsString(body), "stop", "10000", "max-stop-strings");
  }

  @Test
  void maxTokensOfTwoToThe31stAndBeyondAre400() throws Exception {
    for (BigInteger n :
        List.of(BigInteger.TWO.pow(31), BigInteger.TWO.pow(64), BigInteger.valueOf(-1))) {
      ObjectNode body = HttpApiTest.completion(prompt, 4);
      body.put("max_tokens", n);
      expect400(
          OpenAiHttp.JSON.writeValueAsString(body),
          "max_tokens",
          "between 1 and",
          Integer.toString(serving.model().contextTokens()));
    }
    ObjectNode chat = HttpApiTest.chat(ReferenceModels.prompts(MODEL).get(5).chat(), 4);
    chat.put("max_completion_tokens", BigInteger.TWO.pow(31));
    OpenAiHttp.Answer a = http.post("/v1/chat/completions", chat);
    assertThat(a.status()).isEqualTo(400);
    assertThat(a.error().path("param").asText()).isEqualTo("max_completion_tokens");
  }

  @Test
  void aPromptLongerThanTheContextIs400() throws Exception {
    int context = serving.model().contextTokens();
    int[] ids = new int[context + 10];
    Arrays.fill(ids, 7);
    expect400(
        OpenAiHttp.JSON.writeValueAsString(HttpApiTest.completion(ids, 4)), "prompt", "context");
    String text = "def f(x): return x\n".repeat(context);
    expect400(
        OpenAiHttp.JSON.writeValueAsString(HttpApiTest.completion(text, 4)), "prompt", "context");
    ObjectNode chat = HttpApiTest.chat(OpenAiHttp.JSON.createArrayNode(), 4);
    chat.putArray("messages").addObject().put("role", "user").put("content", text);
    OpenAiHttp.Answer a = http.post("/v1/chat/completions", chat);
    assertThat(a.status()).isEqualTo(400);
    assertThat(a.error().path("param").asText()).isEqualTo("messages");
  }

  /** 100 MB announced by Content-Length: 413 at once, the body unread; the connection is closed. */
  @Test
  void aHundredMegabyteBodyIs413WithoutBeingRead() throws Exception {
    long heapBefore = heapAfterGc();
    String head =
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + (100L << 20)
            + "\r\n\r\n";
    Sent sent = sendHostile(head, false);
    assertThat(sent.response())
        .startsWith("HTTP/1.1 413")
        .contains("request_too_large", "max-body-bytes");
    assertThat(sent.bytesWritten()).isLessThan(100L << 20);
    assertThat(heapAfterGc() - heapBefore).isLessThan(32L << 20);
  }

  /** 100 MB in chunks with no length: read up to the limit, then 413. */
  @Test
  void aHundredMegabyteChunkedBodyIs413AtTheLimit() throws Exception {
    long heapBefore = heapAfterGc();
    String head =
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n";
    Sent sent = sendHostile(head, true);
    assertThat(sent.response()).startsWith("HTTP/1.1 413").contains("request_too_large");
    assertThat(sent.bytesWritten()).isLessThan(100L << 20);
    assertThat(heapAfterGc() - heapBefore).isLessThan(32L << 20);
  }

  record Sent(String response, long bytesWritten) {}

  /** Sends {@code head} then up to 100 MB of body from another thread while reading the answer. */
  private Sent sendHostile(String head, boolean chunked) throws Exception {
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(60_000);
      OutputStream out = socket.getOutputStream();
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      AtomicLong written = new AtomicLong();
      CompletableFuture<Void> writer =
          CompletableFuture.runAsync(
              () -> {
                byte[] block = new byte[64 * 1024];
                Arrays.fill(block, (byte) ' ');
                byte[] chunkHead =
                    (Integer.toHexString(block.length) + "\r\n")
                        .getBytes(StandardCharsets.US_ASCII);
                byte[] crlf = "\r\n".getBytes(StandardCharsets.US_ASCII);
                try {
                  while (written.get() < (100L << 20)) {
                    if (chunked) {
                      out.write(chunkHead);
                    }
                    out.write(block);
                    if (chunked) {
                      out.write(crlf);
                    }
                    written.addAndGet(block.length);
                  }
                } catch (IOException closedByServer) {
                  // expected: the server answers and closes without reading the rest
                }
              });
      InputStream in = socket.getInputStream();
      ByteArrayOutputStream response = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      for (int n; (n = in.read(buf)) > 0 && response.size() < 64 * 1024; ) {
        response.write(buf, 0, n);
        if (response.toString(StandardCharsets.UTF_8).contains("}}")) {
          break;
        }
      }
      socket.close();
      writer.get(60, TimeUnit.SECONDS);
      return new Sent(response.toString(StandardCharsets.UTF_8), written.get());
    }
  }

  /**
   * 1,000 connections opened and dropped, some mid-request: the router keeps serving (checked
   * after).
   */
  @Test
  void aThousandConnectionsOpenedAndDroppedLeaveTheRouterServing() throws Exception {
    byte[] partial =
        ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\": [1, 2")
            .getBytes(StandardCharsets.US_ASCII);
    byte[] whole = OpenAiHttp.JSON.writeValueAsBytes(HttpApiTest.completion(prompt, 64));
    byte[] request =
        ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                + whole.length
                + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    List<Socket> open = new ArrayList<>();
    try {
      for (int i = 0; i < 1000; i++) {
        Socket s = new Socket("127.0.0.1", port);
        switch (i % 4) {
          case 0 -> {} // opened, nothing sent
          case 1 -> s.getOutputStream().write("GET /v1/mod".getBytes(StandardCharsets.US_ASCII));
          case 2 -> s.getOutputStream().write(partial);
          default -> {
            s.getOutputStream().write(request);
            s.getOutputStream().write(whole); // a whole request whose client will not wait for it
          }
        }
        open.add(s);
        if (open.size() == 100) {
          closeAll(open);
        }
      }
    } finally {
      closeAll(open);
    }
    // every abandoned completion ends (HttpApiTest shows a closed connection cancels its request):
    // nothing is left running and no KV block held. The router may still be reading requests
    // written just before their
    // connection closed, so a single idle look is not enough: the idle state must last.
    assertThat(settledIdle(Duration.ofSeconds(1), Duration.ofSeconds(60)))
        .as("sequences running, waiting and KV blocks used (last seen)")
        .containsExactly(0.0, 0.0, 0.0);
  }

  /**
   * Polls the scheduler's gauges until they show no sequence and no used block for {@code quiet} on
   * end, or {@code limit} passes; returns the last running, waiting and used-block values.
   */
  private double[] settledIdle(Duration quiet, Duration limit) throws InterruptedException {
    long until = System.nanoTime() + limit.toNanos();
    long idleSince = System.nanoTime();
    double[] last;
    do {
      Thread.sleep(20);
      last =
          new double[] {
            serveGauge("arrakis_serve_sequences", "running"),
            serveGauge("arrakis_serve_sequences", "waiting"),
            serveGauge("arrakis_serve_kv_blocks", "used")
          };
      if (Arrays.stream(last).anyMatch(v -> v > 0)) {
        idleSince = System.nanoTime();
      }
    } while (System.nanoTime() - idleSince < quiet.toNanos() && System.nanoTime() < until);
    return last;
  }

  private double serveGauge(String name, String state) {
    return harness.registry.get(name).tag("state", state).gauge().value();
  }

  private static void closeAll(List<Socket> sockets) throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
    sockets.clear();
  }

  private static long heapAfterGc() throws InterruptedException {
    for (int i = 0; i < 2; i++) {
      System.gc();
      Thread.sleep(100);
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }
}
