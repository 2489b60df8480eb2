package io.arrakis.router.http;

import com.typesafe.config.Config;
import io.arrakis.router.RouterSettings;
import java.time.Duration;

/**
 * The OpenAI-compatible HTTP API's settings ({@code arrakis.router.http}), read once.
 *
 * @param port its port; 0 = any free port, -1 = off
 * @param maxBodyBytes largest request body; past it 413
 * @param bodyTimeout longest a client may take to send its body
 * @param maxConnections open connections at once
 * @param idleTimeout a connection with nothing in flight is closed after this long
 * @param streamBuffer chunks a streamed answer may have waiting for a slow reader; past it the
 *     request is cancelled
 */
public record HttpSettings(
    int port,
    long maxBodyBytes,
    Duration bodyTimeout,
    int maxConnections,
    Duration idleTimeout,
    int streamBuffer) {
  public static final int OFF = -1;

  public HttpSettings {
    if (port < OFF || port > 65535) {
      throw new IllegalArgumentException(
          "arrakis.router.http.port must be in 0..65535 (or -1: off), got " + port);
    }
    if (maxBodyBytes < 1024 || maxBodyBytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "arrakis.router.http.max-body-bytes must be between 1k and 2g, got " + maxBodyBytes);
    }
    if (maxConnections < 1 || streamBuffer < 1) {
      throw new IllegalArgumentException(
          "arrakis.router.http.max-connections and stream-buffer must be positive");
    }
    for (Duration d : new Duration[] {bodyTimeout, idleTimeout}) {
      if (d.isNegative() || d.isZero() || d.compareTo(RouterSettings.MAX_TIMEOUT) > 0) {
        throw new IllegalArgumentException(
            "arrakis.router.http.body-timeout and idle-timeout must be positive and at most "
                + RouterSettings.MAX_TIMEOUT
                + ", got "
                + d);
      }
    }
  }

  public static HttpSettings from(Config root) {
    Config c = root.getConfig("arrakis.router.http");
    return new HttpSettings(
        c.getInt("port"),
        c.getBytes("max-body-bytes"),
        c.getDuration("body-timeout"),
        c.getInt("max-connections"),
        c.getDuration("idle-timeout"),
        c.getInt("stream-buffer"));
  }

  public boolean enabled() {
    return port != OFF;
  }

  public HttpSettings withPort(int p) {
    return new HttpSettings(
        p, maxBodyBytes, bodyTimeout, maxConnections, idleTimeout, streamBuffer);
  }

  public HttpSettings withMaxBodyBytes(long bytes) {
    return new HttpSettings(port, bytes, bodyTimeout, maxConnections, idleTimeout, streamBuffer);
  }
}
