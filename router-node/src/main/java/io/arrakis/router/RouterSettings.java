package io.arrakis.router;

import com.typesafe.config.Config;
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
        new NodeDispatcher.Limits(c.getInt("node-max-in-flight"), c.getInt("node-max-batch-tokens")),
        c.getDuration("drain-delay"),
        c.getDuration("shutdown-grace"));
  }

  public RouterSettings withNodeId(String id) {
    return new RouterSettings(id, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, drainDelay, shutdownGrace);
  }

  public RouterSettings withPort(int p) {
    return new RouterSettings(nodeId, p, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, drainDelay, shutdownGrace);
  }

  public RouterSettings withMetricsPort(int p) {
    return new RouterSettings(nodeId, port, p, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, drainDelay, shutdownGrace);
  }

  public RouterSettings withNodeLimits(NodeDispatcher.Limits l) {
    return new RouterSettings(nodeId, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, l, drainDelay, shutdownGrace);
  }

  public RouterSettings withDrainDelay(Duration d) {
    return new RouterSettings(nodeId, port, metricsPort, maxRequestTokens, defaultDeadline, maxMessageBytes, nodeLimits, d, shutdownGrace);
  }
}
