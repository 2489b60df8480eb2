package io.arrakis.loadtest.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.security.ClientSecurity;
import io.arrakis.security.TlsFiles;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.client5.http.classic.methods.HttpPost;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder;
import org.apache.hc.client5.http.ssl.DefaultClientTlsStrategy;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.io.entity.ByteArrayEntity;
import org.apache.hc.core5.http.io.entity.EntityUtils;
import org.apache.hc.core5.util.Timeout;

/**
 * A router's OpenAI-compatible HTTP API as the serving load test and the demo call it: streamed
 * completions of token-id prompts ({@code return_token_ids}, {@code ignore_eos}, greedy) and
 * streamed chat completions, with the bearer token and, over https, trusting only the cluster's CA.
 * HTTP/1.1 as the API speaks it, through Apache HttpClient's classic (blocking) API: each open
 * stream has a thread of its own that writes its request (head and body in one write) and reads its
 * answer (see {@link CompletionCall}), on keep-alive connections pooled for the next requests, as
 * many as there are streams open.
 */
public final class OpenAiClient implements ServingLoad.Client {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

  /** More than any run opens at once: a stream never waits for a connection. */
  private static final int MAX_CONNECTIONS = 4096;

  private final URI base;
  private final CloseableHttpClient http;
  private final String token;
  private final ExecutorService threads =
      Executors.newCachedThreadPool(
          new ThreadFactory() {
            private final AtomicInteger n = new AtomicInteger();

            @Override
            public Thread newThread(Runnable r) {
              Thread t = new Thread(r, "openai-stream-" + n.incrementAndGet());
              t.setDaemon(true); // a stream left open never keeps the command from exiting
              return t;
            }
          });

  /**
   * @param baseUrl e.g. http://127.0.0.1:8000 (a trailing / or /v1 is dropped)
   * @param security its CA certificate (for https) and public token file, when set
   * @param timeout the longest a stream may go without a byte
   */
  public OpenAiClient(String baseUrl, ClientSecurity security, Duration timeout)
      throws IOException {
    String b = baseUrl.replaceAll("/+$", "").replaceAll("/v1$", "");
    if (!b.startsWith("http://") && !b.startsWith("https://")) {
      throw new IllegalArgumentException(
          "the base URL must start with http:// or https://, got '" + baseUrl + "'");
    }
    this.base = URI.create(b);
    PoolingHttpClientConnectionManagerBuilder pool =
        PoolingHttpClientConnectionManagerBuilder.create()
            .setMaxConnTotal(MAX_CONNECTIONS)
            .setMaxConnPerRoute(MAX_CONNECTIONS)
            .setDefaultConnectionConfig(
                ConnectionConfig.custom()
                    .setConnectTimeout(Timeout.of(CONNECT_TIMEOUT))
                    .setSocketTimeout(Timeout.of(timeout))
                    .build());
    if (b.startsWith("https://") && security.caCert() != null) {
      pool.setTlsSocketStrategy(
          new DefaultClientTlsStrategy(TlsFiles.trustingOnly(security.caCert())));
    }
    this.http =
        HttpClients.custom()
            .setConnectionManager(pool.build())
            .disableAutomaticRetries() // a generation is not repeated behind the load's back
            .disableRedirectHandling()
            .build();
    this.token =
        security.tokenFile() == null ? null : ClientSecurity.readToken(security.tokenFile());
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
    return send("/v1/completions", body, new CompletionCall(false, onTokens, text -> {}));
  }

  /** A streamed chat completion of one user message; {@code onText} hears each delta. */
  public CompletionCall chat(String message, int maxTokens, Consumer<String> onText) {
    ObjectNode body = JSON.createObjectNode();
    body.putArray("messages").addObject().put("role", "user").put("content", message);
    body.put("max_tokens", maxTokens)
        .put("temperature", 0)
        .put("return_token_ids", true)
        .put("stream", true);
    return send("/v1/chat/completions", body, new CompletionCall(true, n -> {}, onText));
  }

  /**
   * Opens {@code streams} keep-alive connections: as many {@code GET /health} at once, each holding
   * its connection until all are open (or {@link #CONNECT_TIMEOUT} has passed). A connection that
   * cannot be opened is left to the run, whose requests then report the failure.
   */
  @Override
  public void connect(int streams) throws InterruptedException {
    CountDownLatch open = new CountDownLatch(streams);
    CountDownLatch ended = new CountDownLatch(streams);
    for (int i = 0; i < streams; i++) {
      threads.execute(
          () -> {
            try {
              http.execute(
                  new HttpGet(base.resolve("/health")),
                  response -> {
                    EntityUtils.consume(response.getEntity());
                    open.countDown();
                    awaitQuietly(open);
                    return null;
                  });
            } catch (IOException | RuntimeException e) {
              open.countDown();
            } finally {
              ended.countDown();
            }
          });
    }
    ended.await(2 * CONNECT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(CONNECT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private CompletionCall send(String path, ObjectNode body, CompletionCall call) {
    HttpPost post = new HttpPost(base.resolve(path));
    post.setHeader("accept", "text/event-stream");
    if (token != null) {
      post.setHeader("authorization", "Bearer " + token);
    }
    post.setEntity(
        new ByteArrayEntity(
            body.toString().getBytes(StandardCharsets.UTF_8), ContentType.APPLICATION_JSON));
    try {
      threads.execute(
          () -> {
            call.sending();
            try {
              http.execute(
                  post,
                  response -> {
                    HttpEntity entity = response.getEntity();
                    call.read(
                        response.getCode(),
                        entity == null ? InputStream.nullInputStream() : entity.getContent());
                    return null;
                  });
            } catch (IOException | RuntimeException e) {
              call.failed(e);
            }
          });
    } catch (RejectedExecutionException e) {
      call.failed(e);
    }
    return call;
  }
}
