package io.arrakis.router;

import com.typesafe.config.Config;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.router.dispatch.NodeDispatcher;
import java.time.Duration;

/** The router's settings, read once from HOCON ({@code arrakis.router}, with environment overrides). */
public record RouterSettings(
    String nodeId,
    int port,
    int metricsPort,
    int maxRequestTokens,
    Duration defaultDeadline,
    int maxMessageBytes,
    NodeDispatcher.Limits nodeLimits,
    TokenLimiter.Settings admission,
    Duration drainDelay,
    Duration shutdownGrace) {

  public RouterSettings {
    if (maxRequestTokens <= 0 || maxMessageBytes <= 0) {
      throw new IllegalArgumentException("max-request-tokens and max-message-bytes must be positive");
    }
  }

  public static RouterSettings from(Config root) {
    Config c = root.getConfig("arrakis.router");
    return new RouterSettings(
        c.getString("node-id"),
        c.getInt("port"),
        c.getInt("metrics-port"),
        c.getInt("max-request-tokens"),
        c.getDuration("default-deadline"),
        Math.toIntExact(c.getBytes("max-message-bytes")),
        new NodeDispatcher.Limits(c.getInt("node-max-in-flight"), c.getInt("node-max-batch-tokens"),
            c.getDuration("node-call-timeout"), c.getDuration("node-health-interval"), c.getDuration("node-health-timeout")),
        admission(c.getConfig("admission")),
        c.getDuration("drain-delay"),
        c.getDuration("shutdown-grace"));
  }

  private static TokenLimiter.Settings admission(Config a) {
    long limit = a.getLong("max-inflight-tokens");
    if (!a.getBoolean("adaptive")) {
      return TokenLimiter.Settings.fixed(limit);
    }
    return new TokenLimiter.Settings(limit, true, Math.min(limit, a.getLong("min-inflight-tokens")),
        Math.max(limit, a.getLong("max-adaptive-tokens")), a.getDuration("latency-target").toNanos(), a.getDouble("backoff"));
  }

  public RouterSettings withAdmission(TokenLimiter.Settings a) {
    return new RouterSettings(nodeId, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, a, drainDelay, shutdownGrace);
  }

  public RouterSettings withNodeId(String id) {
    return new RouterSettings(id, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, admission, drainDelay, shutdownGrace);
  }

  public RouterSettings withPort(int p) {
    return new RouterSettings(nodeId, p, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, admission, drainDelay, shutdownGrace);
  }

  public RouterSettings withMetricsPort(int p) {
    return new RouterSettings(nodeId, port, p, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, admission, drainDelay, shutdownGrace);
  }

  public RouterSettings withNodeLimits(NodeDispatcher.Limits l) {
    return new RouterSettings(nodeId, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, l, admission, drainDelay, shutdownGrace);
  }

  public RouterSettings withDrainDelay(Duration d) {
    return new RouterSettings(nodeId, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, admission, d, shutdownGrace);
  }
}
