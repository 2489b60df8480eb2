package io.arrakis.loadtest.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.security.ClientSecurity;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A router's OpenAI-compatible HTTP API as the serving load test and the demo call it: streamed
 * completions of token-id prompts ({@code return_token_ids}, {@code ignore_eos}, greedy) and
 * streamed chat completions, with the bearer token and, over https, trusting only the cluster's CA.
 * The JDK's own HTTP client, HTTP/1.1 as the API speaks it, one connection per open stream.
 */
public final class OpenAiClient implements ServingLoad.Client {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpClient http;
  private final URI base;
  private final String token;
  private final Duration timeout;

  /**
   * @param baseUrl e.g. http://127.0.0.1:8000 (a trailing / or /v1 is dropped)
   * @param security its CA certificate (for https) and public token file, when set
   * @param timeout the longest a stream may take
   */
  public OpenAiClient(String baseUrl, ClientSecurity security, Duration timeout)
      throws IOException {
    String b = baseUrl.replaceAll("/+$", "").replaceAll("/v1$", "");
    if (!b.startsWith("http://") && !b.startsWith("https://")) {
      throw new IllegalArgumentException(
          "the base URL must start with http:// or https://, got '" + baseUrl + "'");
    }
    this.base = URI.create(b);
    HttpClient.Builder builder =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10));
    if (b.startsWith("https://") && security.caCert() != null) {
      builder.sslContext(trusting(security.caCert()));
    }
    this.http = builder.build();
    this.token =
        security.tokenFile() == null ? null : ClientSecurity.readToken(security.tokenFile());
    this.timeout = timeout;
  }

  public URI base() {
    return base;
  }

  @Override
  public StreamedCall start(String id, int[] prompt, int outputTokens, IntConsumer onTokens) {
    ObjectNode body = JSON.createObjectNode();
    ArrayNode ids = body.putArray("prompt");
    for (int t : prompt) {
      ids.add(t);
    }
    body.put("max_tokens", outputTokens)
        .put("temperature", 0)
        .put("ignore_eos", true)
        .put("return_token_ids", true)
        .put("stream", true);
    return CompletionCall.start(http, post("/v1/completions", body), false, onTokens);
  }

  /** A streamed chat completion of one user message; {@code onText} hears each delta. */
  public CompletionCall chat(String message, int maxTokens, Consumer<String> onText) {
    ObjectNode body = JSON.createObjectNode();
    body.putArray("messages").addObject().put("role", "user").put("content", message);
    body.put("max_tokens", maxTokens)
        .put("temperature", 0)
        .put("return_token_ids", true)
        .put("stream", true);
    return CompletionCall.start(http, post("/v1/chat/completions", body), true, n -> {}, onText);
  }

  private HttpRequest post(String path, ObjectNode body) {
    HttpRequest.Builder r =
        HttpRequest.newBuilder(base.resolve(path))
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString()));
    if (token != null) {
      r.header("authorization", "Bearer " + token);
    }
    return r.build();
  }

  private static SSLContext trusting(Path caCert) throws IOException {
    try (InputStream in = Files.newInputStream(caCert)) {
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      trust.setCertificateEntry(
          "ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
      TrustManagerFactory tm =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tm.init(trust);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, tm.getTrustManagers(), new SecureRandom());
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot read the CA certificate " + caCert + ": " + e.getMessage(), e);
    }
  }
}
