package io.arrakis.router;

import com.typesafe.config.Config;
import io.arrakis.router.admission.TokenLimiter;
import io.arrakis.router.dispatch.NodeDispatcher;
import io.arrakis.security.ConnectionLimits;
import io.arrakis.security.RequestArrival;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * The router's settings, read once from HOCON ({@code arrakis.router}, with environment overrides).
 */
public record RouterSettings(
    String nodeId,
    int port,
    int metricsPort,
    int maxRequestTokens,
    Duration defaultDeadline,
    Duration maxDeadline,
    NodeDispatcher.Limits nodeLimits,
    TokenLimiter.Settings admission,
    Duration drainDelay,
    Duration shutdownGrace,
    RequestArrival.Settings arrival,
    ConnectionLimits connections) {

  /**
   * The longest any timeout may be, whether a client asks for it or the configuration says it: far
   * beyond any sane setting, and far below what timers take (Pekko's scheduler refuses delays past
   * about 248 days).
   */
  public static final Duration MAX_TIMEOUT = Duration.ofDays(1);

  /**
   * Bytes of a Forward call beside its hidden states: the request id (at most {@link
   * #MAX_REQUEST_ID_BYTES}), the tensor's header, framing.
   */
  static final int REQUEST_OVERHEAD_BYTES = 64 * 1024;

  /** Longest request id accepted (it is echoed in the answer and in errors). */
  public static final int MAX_REQUEST_ID_BYTES = 256;

  /** The least inbound message limit, for the admin calls (placements) of small models. */
  static final int MIN_MESSAGE_BYTES = 1 << 20;

  public RouterSettings {
    if (maxRequestTokens <= 0) {
      throw new IllegalArgumentException(
          "max-request-tokens must be positive, got " + maxRequestTokens);
    }
    checkTimeout("default-deadline", defaultDeadline);
    checkTimeout("max-deadline", maxDeadline);
    checkTimeout("node-call-timeout", nodeLimits.callTimeout());
    checkTimeout("node-health-interval", nodeLimits.healthInterval());
    checkTimeout("node-health-timeout", nodeLimits.healthTimeout());
    if (drainDelay.isNegative()
        || drainDelay.compareTo(MAX_TIMEOUT) > 0
        || shutdownGrace.isNegative()
        || shutdownGrace.compareTo(MAX_TIMEOUT) > 0) {
      throw new IllegalArgumentException(
          "drain-delay and shutdown-grace must be between 0 and " + MAX_TIMEOUT);
    }
  }

  private static void checkTimeout(String key, Duration d) {
    if (d.isNegative() || d.isZero() || d.compareTo(MAX_TIMEOUT) > 0) {
      throw new IllegalArgumentException(
          "arrakis.router." + key + " must be positive and at most " + MAX_TIMEOUT + ", got " + d);
    }
  }

  /**
   * The router's inbound message limit: the largest valid Forward call (max-request-tokens rows of
   * float32 at the model's hidden size, plus its request id and header), at least {@link
   * #MIN_MESSAGE_BYTES}. Also applied to a message once decompressed.
   *
   * @throws IllegalArgumentException when that does not fit one gRPC message (2 GiB)
   */
  public int maxMessageBytes(int hidden) {
    return messageBytes("max-request-tokens", maxRequestTokens, hidden);
  }

  /**
   * What an expert node's answer may hold: a full batch of float32 partial sums
   * (node-max-batch-tokens rows).
   */
  public int maxAnswerBytes(int hidden) {
    return messageBytes("node-max-batch-tokens", nodeLimits.maxBatchTokens(), hidden);
  }

  private static int messageBytes(String key, long tokens, int hidden) {
    long bytes = tokens * hidden * Float.BYTES + REQUEST_OVERHEAD_BYTES;
    if (bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "arrakis.router."
              + key
              + " = "
              + tokens
              + " tokens of hidden size "
              + hidden
              + " need "
              + bytes
              + " bytes in one gRPC message, more than its 2 GiB: lower "
              + key);
    }
    return (int) Math.max(bytes, MIN_MESSAGE_BYTES);
  }

  public static RouterSettings from(Config root) {
    Config c = root.getConfig("arrakis.router");
    return new RouterSettings(
        c.getString("node-id"),
        c.getInt("port"),
        c.getInt("metrics-port"),
        c.getInt("max-request-tokens"),
        c.getDuration("default-deadline"),
        c.getDuration("max-deadline"),
        new NodeDispatcher.Limits(
            c.getInt("node-max-in-flight"),
            c.getInt("node-max-batch-tokens"),
            c.getInt("node-max-queued-tokens"),
            c.getDuration("node-call-timeout"),
            c.getDuration("node-health-interval"),
            c.getDuration("node-health-timeout")),
        admission(c.getConfig("admission")),
        c.getDuration("drain-delay"),
        c.getDuration("shutdown-grace"),
        new RequestArrival.Settings(
            c.getInt("max-arriving-calls"), c.getDuration("request-timeout"), "arrakis.router"),
        new ConnectionLimits(
            c.getInt("max-stream-resets"),
            c.getDuration("stream-reset-window"),
            c.getDuration("connection-idle-timeout"),
            c.getInt("max-connections"),
            "arrakis.router"));
  }

  private static TokenLimiter.Settings admission(Config a) {
    long limit = a.getLong("max-inflight-tokens");
    if (!a.getBoolean("adaptive")) {
      return TokenLimiter.Settings.fixed(limit);
    }
    return new TokenLimiter.Settings(
        limit,
        true,
        Math.min(limit, a.getLong("min-inflight-tokens")),
        Math.max(limit, a.getLong("max-adaptive-tokens")),
        a.getDuration("latency-target").toNanos(),
        a.getDouble("backoff"));
  }

  public RouterSettings withAdmission(TokenLimiter.Settings a) {
    return with(b -> b.admission = a);
  }

  public RouterSettings withNodeId(String id) {
    return with(b -> b.nodeId = id);
  }

  public RouterSettings withPort(int p) {
    return with(b -> b.port = p);
  }

  public RouterSettings withMetricsPort(int p) {
    return with(b -> b.metricsPort = p);
  }

  public RouterSettings withNodeLimits(NodeDispatcher.Limits l) {
    return with(b -> b.nodeLimits = l);
  }

  public RouterSettings withArrival(RequestArrival.Settings a) {
    return with(b -> b.arrival = a);
  }

  public RouterSettings withConnections(ConnectionLimits c) {
    return with(b -> b.connections = c);
  }

  public RouterSettings withDrainDelay(Duration d) {
    return with(b -> b.drainDelay = d);
  }

  /** A copy with {@code change} applied, checked as every instance is. */
  private RouterSettings with(Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return new RouterSettings(
        b.nodeId,
        b.port,
        b.metricsPort,
        b.maxRequestTokens,
        b.defaultDeadline,
        b.maxDeadline,
        b.nodeLimits,
        b.admission,
        b.drainDelay,
        b.shutdownGrace,
        b.arrival,
        b.connections);
  }

  /** The components of an instance, to change some before making a new one. */
  private static final class Copy {
    String nodeId;
    int port;
    int metricsPort;
    int maxRequestTokens;
    Duration defaultDeadline;
    Duration maxDeadline;
    NodeDispatcher.Limits nodeLimits;
    TokenLimiter.Settings admission;
    Duration drainDelay;
    Duration shutdownGrace;
    RequestArrival.Settings arrival;
    ConnectionLimits connections;

    Copy(RouterSettings o) {
      nodeId = o.nodeId;
      port = o.port;
      metricsPort = o.metricsPort;
      maxRequestTokens = o.maxRequestTokens;
      defaultDeadline = o.defaultDeadline;
      maxDeadline = o.maxDeadline;
      nodeLimits = o.nodeLimits;
      admission = o.admission;
      drainDelay = o.drainDelay;
      shutdownGrace = o.shutdownGrace;
      arrival = o.arrival;
      connections = o.connections;
    }
  }
}
