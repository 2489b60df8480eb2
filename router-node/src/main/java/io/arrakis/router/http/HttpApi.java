package io.arrakis.router.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.serve.GenerationService;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.ConnectionContext;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.ServerBuilder;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Flow;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router's OpenAI-compatible HTTP API on its own port (Pekko HTTP on the router's actor
 * system), plaintext or TLS. Each connection gets a {@link ConnectionScope}, so that a client that
 * closes its connection cancels what it asked for.
 */
public final class HttpApi {
  private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
  private final ServerBinding binding;
  private final AtomicBoolean draining;

  private HttpApi(ServerBinding binding, AtomicBoolean draining) {
    this.binding = binding;
    this.draining = draining;
  }

  /**
   * Binds and starts serving; returns once bound.
   *
   * @param service generation, or null on a router serving a layer-only model
   * @param tls the server's TLS context (client certificates are asked for, not required), or null
   *     for plaintext
   * @param deadline how long a request may take
   * @param maxStopStrings stop strings a request may give
   * @throws IllegalStateException when the port cannot be bound
   */
  public static HttpApi start(
      ActorSystem<?> system,
      String host,
      HttpSettings settings,
      GenerationService service,
      HttpAccess access,
      SSLContext tls,
      Duration deadline,
      int maxStopStrings) {
    AtomicBoolean draining = new AtomicBoolean();
    Materializer mat = Materializer.matFromSystem(system);
    OpenAiApi api =
        new OpenAiApi(
            service, settings, access, deadline, maxStopStrings, () -> !draining.get(), mat);
    // one flow per connection. The requests' side ends when the client closes the connection, even
    // while an answer is pending (which the answers' side would wait for): that cancels what still
    // runs for it. The answers' side ending (the server closing it) does too.
    Flow<HttpRequest, HttpResponse, ?> perConnection =
        Flow.fromMaterializer(
            (m, attributes) -> {
              ConnectionScope scope = new ConnectionScope();
              return Flow.of(HttpRequest.class)
                  .watchTermination(
                      (notUsed, done) -> {
                        PekkoFutures.plain(done).whenComplete((ok, failed) -> scope.close());
                        return notUsed;
                      })
                  .mapAsync(1, r -> api.handle(r, scope))
                  .watchTermination(
                      (notUsed, done) -> {
                        PekkoFutures.plain(done).whenComplete((ok, failed) -> scope.close());
                        return notUsed;
                      });
            });
    ServerBuilder builder =
        Http.get(system)
            .newServerAt(host, Math.max(settings.port(), 0))
            .withSettings(
                ServerSettings.create(
                    serverConfig(settings, tls != null, system.settings().config())));
    if (tls != null) {
      builder =
          builder.enableHttps(
              ConnectionContext.httpsServer(
                  () -> {
                    SSLEngine engine = tls.createSSLEngine();
                    engine.setUseClientMode(false);
                    engine.setWantClientAuth(true);
                    return engine;
                  }));
    }
    ServerBinding binding;
    try {
      binding = builder.bindFlow(perConnection).toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new IllegalStateException(
          "the HTTP API could not listen on "
              + host
              + ":"
              + settings.port()
              + ": "
              + e.getCause().getMessage(),
          e.getCause());
    } catch (TimeoutException | InterruptedException e) {
      throw new IllegalStateException(
          "the HTTP API could not listen on " + host + ":" + settings.port() + ": " + e, e);
    }
    log.info(
        "HTTP API (OpenAI-compatible{}) on {}", tls != null ? ", TLS" : "", binding.localAddress());
    return new HttpApi(binding, draining);
  }

  /**
   * Pekko HTTP's server settings from ours: body limit, connections, timeouts (the serving deadline
   * bounds a request).
   */
  private static Config serverConfig(HttpSettings s, boolean tls, Config fallback) {
    return ConfigFactory.parseMap(
            Map.of(
                "pekko.http.server.parsing.max-content-length",
                Long.toString(s.maxBodyBytes()),
                "pekko.http.server.max-connections",
                Integer.toString(s.maxConnections()),
                "pekko.http.server.idle-timeout",
                s.idleTimeout().toMillis() + "ms",
                "pekko.http.server.request-timeout",
                "infinite",
                "pekko.http.server.parsing.ssl-session-attribute",
                tls ? "on" : "off",
                "pekko.http.server.server-header",
                "arrakis"),
            "arrakis.router.http")
        .withFallback(fallback);
  }

  public int port() {
    return binding.localAddress().getPort();
  }

  /** {@code /health} answers 503 from now on; requests are still served. */
  public void drain() {
    draining.set(true);
  }

  /**
   * Stops taking connections, lets requests in flight finish within {@code grace}, then closes what
   * is left (cancelling its requests).
   */
  public void stop(Duration grace) {
    drain();
    CompletableFuture<?> done = binding.terminate(grace).toCompletableFuture();
    try {
      done.get(grace.toMillis() + 5000, TimeUnit.MILLISECONDS);
    } catch (ExecutionException | TimeoutException e) {
      log.warn("the HTTP API did not stop cleanly: {}", e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
