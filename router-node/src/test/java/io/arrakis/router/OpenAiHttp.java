package io.arrakis.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A plain HTTP client of the router's OpenAI-compatible API, for tests: JSON answers and SSE
 * streams as they come.
 */
final class OpenAiHttp {
  static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient client =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(10))
          .build();
  private final String base;
  private final String token;

  OpenAiHttp(int port, String token) {
    this.base = "http://127.0.0.1:" + port;
    this.token = token;
  }

  OpenAiHttp(int port) {
    this(port, null);
  }

  /** A greedy completion of token ids without eos, its ids returned ({@code return_token_ids}). */
  static ObjectNode greedyCompletion(int[] prompt, int maxTokens) {
    ObjectNode body =
        JSON.createObjectNode()
            .put("max_tokens", maxTokens)
            .put("temperature", 0)
            .put("ignore_eos", true)
            .put("return_token_ids", true);
    body.set("prompt", JSON.valueToTree(prompt));
    return body;
  }

  /** A status and its JSON body. */
  record Answer(int status, JsonNode body) {
    JsonNode error() {
      return body.path("error");
    }
  }

  /**
   * A streamed answer: its status, each {@code data:} payload in order ({@code [DONE]} included).
   */
  record Stream(int status, List<String> data) {
    /** The JSON chunks (all but [DONE]). */
    List<JsonNode> chunks() throws Exception {
      List<JsonNode> out = new ArrayList<>();
      for (String d : data) {
        if (!d.equals("[DONE]")) {
          out.add(JSON.readTree(d));
        }
      }
      return out;
    }
  }

  Answer get(String path) throws Exception {
    HttpResponse<String> r =
        client.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), JSON.readTree(r.body()));
  }

  Answer post(String path, Object body) throws Exception {
    return postRaw(path, body instanceof String s ? s : JSON.writeValueAsString(body));
  }

  Answer postRaw(String path, String body) throws Exception {
    HttpResponse<String> r =
        client.send(
            request(path)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), JSON.readTree(r.body()));
  }

  Stream stream(String path, Object body) throws Exception {
    HttpResponse<InputStream> r =
        client.send(
            request(path)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)))
                .build(),
            HttpResponse.BodyHandlers.ofInputStream());
    List<String> data = new ArrayList<>();
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
      if (r.statusCode() != 200) {
        StringBuilder all = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
          all.append(line);
        }
        data.add(all.toString());
        return new Stream(r.statusCode(), data);
      }
      for (String line; (line = in.readLine()) != null; ) {
        if (line.startsWith("data: ")) {
          data.add(line.substring("data: ".length()));
        }
      }
    }
    return new Stream(r.statusCode(), data);
  }

  private HttpRequest.Builder request(String path) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return b;
  }
}
