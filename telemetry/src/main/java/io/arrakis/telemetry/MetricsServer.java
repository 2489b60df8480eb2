package io.arrakis.telemetry;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves a Prometheus registry as text on {@code GET /metrics} (JDK HTTP server, one thread:
 * scrapes are rare and cheap). JVM memory, GC, thread and CPU meters are bound on creation.
 */
public final class MetricsServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);

  private final PrometheusMeterRegistry registry;
  private final HttpServer http;
  private final ExecutorService executor;
  private final JvmGcMetrics gc = new JvmGcMetrics();

  private MetricsServer(
      PrometheusMeterRegistry registry, HttpServer http, ExecutorService executor) {
    this.registry = registry;
    this.http = http;
    this.executor = executor;
  }

  /** A registry with the JVM meters bound, for a node to record into. */
  public static PrometheusMeterRegistry newRegistry() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    return registry;
  }

  /** Starts serving {@code registry} on {@code host:port} (port 0 picks a free one). */
  public static MetricsServer start(PrometheusMeterRegistry registry, String host, int port)
      throws IOException {
    HttpServer http = HttpServer.create(new InetSocketAddress(host, port), 16);
    ExecutorService executor =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "metrics-http");
              t.setDaemon(true);
              return t;
            });
    MetricsServer server = new MetricsServer(registry, http, executor);
    server.gc.bindTo(registry);
    http.createContext("/metrics", server::scrape);
    http.createContext("/", server::notFound);
    http.setExecutor(executor);
    http.start();
    log.info("metrics on http://{}:{}/metrics", host, server.port());
    return server;
  }

  public int port() {
    return http.getAddress().getPort();
  }

  private void scrape(HttpExchange ex) throws IOException {
    try (ex) {
      if (!"GET".equals(ex.getRequestMethod())) {
        respond(ex, 405, "only GET\n");
        return;
      }
      ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      respond(ex, 200, registry.scrape());
    }
  }

  private void notFound(HttpExchange ex) throws IOException {
    try (ex) {
      respond(ex, 404, "metrics are at /metrics\n");
    }
  }

  private static void respond(HttpExchange ex, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    http.stop(0);
    executor.shutdownNow();
    gc.close();
  }
}
