package io.arrakis.expert;

import com.typesafe.config.Config;
import io.arrakis.model.config.ModelConfig;
import io.arrakis.security.ConnectionLimits;
import io.arrakis.security.RequestArrival;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * The expert node's settings, read once from HOCON ({@code arrakis.expert} in reference.conf, with
 * environment overrides).
 */
public record ExpertNodeSettings(
    String nodeId,
    int port,
    int metricsPort,
    int computeThreads,
    int blasThreads,
    int queueCapacity,
    int maxBatchTokens,
    int maxMessageBytes,
    Duration drainDelay,
    Duration shutdownGrace,
    Duration leaveTimeout,
    String device,
    int cudaGroupedMaxRows,
    long cudaGroupedMaxExpertBytes,
    long cudaScratchReserveBytes,
    RequestArrival.Settings arrival,
    ConnectionLimits connections) {

  public ExpertNodeSettings {
    if (computeThreads <= 0) {
      computeThreads = Runtime.getRuntime().availableProcessors();
    }
    if (queueCapacity < 0 || maxBatchTokens <= 0 || maxMessageBytes < 0) {
      throw new IllegalArgumentException(
          "queue-capacity and max-batch-tokens must be positive, max-message-bytes not negative");
    }
    if (cudaGroupedMaxRows < 0 || cudaGroupedMaxExpertBytes < 0 || cudaScratchReserveBytes < 0) {
      throw new IllegalArgumentException(
          "cuda.grouped-max-rows, cuda.grouped-max-expert-size and cuda.scratch-reserve "
              + "must not be negative");
    }
  }

  /**
   * The inbound message limit: as configured, or (0) sized from the model: a full batch of float32
   * rows with their (row, weight) pairs (each row in at most top-k assignments, 10 bytes a pair),
   * an assignment header per expert (32 bytes) and 64 KiB for the rest.
   *
   * @throws IllegalArgumentException when a full batch does not fit one gRPC message (2 GiB)
   */
  public int messageLimit(ModelConfig model) {
    if (maxMessageBytes > 0) {
      return maxMessageBytes;
    }
    long bytes =
        (long) maxBatchTokens * (model.hiddenSize() * (long) Float.BYTES + model.topK() * 10L)
            + (long) model.numLayers() * model.numExperts() * 32
            + 64 * 1024;
    if (bytes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "max-batch-tokens "
              + maxBatchTokens
              + " at hidden size "
              + model.hiddenSize()
              + " needs "
              + bytes
              + " bytes in one message, more than gRPC's 2 GiB: lower arrakis.expert.max-batch-tokens");
    }
    return (int) bytes;
  }

  public static ExpertNodeSettings from(Config root) {
    Config c = root.getConfig("arrakis.expert");
    return new ExpertNodeSettings(
        c.getString("node-id"),
        c.getInt("port"),
        c.getInt("metrics-port"),
        c.getInt("compute-threads"),
        c.getInt("blas-threads"),
        c.getInt("queue-capacity"),
        c.getInt("max-batch-tokens"),
        Math.toIntExact(c.getBytes("max-message-bytes")),
        c.getDuration("drain-delay"),
        c.getDuration("shutdown-grace"),
        c.getDuration("leave-timeout"),
        c.getString("device"),
        c.getInt("cuda.grouped-max-rows"),
        c.getBytes("cuda.grouped-max-expert-size"),
        c.getBytes("cuda.scratch-reserve"),
        new RequestArrival.Settings(
            c.getInt("max-arriving-calls"), c.getDuration("request-timeout"), "arrakis.expert"),
        new ConnectionLimits(
            c.getInt("max-stream-resets"),
            c.getDuration("stream-reset-window"),
            c.getDuration("connection-idle-timeout"),
            c.getInt("max-connections"),
            "arrakis.expert"));
  }

  public ExpertNodeSettings withNodeId(String id) {
    return with(b -> b.nodeId = id);
  }

  public ExpertNodeSettings withPort(int p) {
    return with(b -> b.port = p);
  }

  public ExpertNodeSettings withMetricsPort(int p) {
    return with(b -> b.metricsPort = p);
  }

  public ExpertNodeSettings withComputeThreads(int n) {
    return with(b -> b.computeThreads = n);
  }

  public ExpertNodeSettings withQueueCapacity(int n) {
    return with(b -> b.queueCapacity = n);
  }

  public ExpertNodeSettings withDrainDelay(Duration d) {
    return with(b -> b.drainDelay = d);
  }

  public ExpertNodeSettings withLeaveTimeout(Duration d) {
    return with(b -> b.leaveTimeout = d);
  }

  public ExpertNodeSettings withArrival(RequestArrival.Settings a) {
    return with(b -> b.arrival = a);
  }

  public ExpertNodeSettings withConnections(ConnectionLimits c) {
    return with(b -> b.connections = c);
  }

  public ExpertNodeSettings withDevice(String dev) {
    return with(b -> b.device = dev);
  }

  /** A copy with {@code change} applied, checked as every instance is. */
  private ExpertNodeSettings with(Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return new ExpertNodeSettings(
        b.nodeId,
        b.port,
        b.metricsPort,
        b.computeThreads,
        b.blasThreads,
        b.queueCapacity,
        b.maxBatchTokens,
        b.maxMessageBytes,
        b.drainDelay,
        b.shutdownGrace,
        b.leaveTimeout,
        b.device,
        b.cudaGroupedMaxRows,
        b.cudaGroupedMaxExpertBytes,
        b.cudaScratchReserveBytes,
        b.arrival,
        b.connections);
  }

  /** The components of an instance, to change some before making a new one. */
  private static final class Copy {
    String nodeId;
    int port;
    int metricsPort;
    int computeThreads;
    int blasThreads;
    int queueCapacity;
    int maxBatchTokens;
    int maxMessageBytes;
    Duration drainDelay;
    Duration shutdownGrace;
    Duration leaveTimeout;
    String device;
    int cudaGroupedMaxRows;
    long cudaGroupedMaxExpertBytes;
    long cudaScratchReserveBytes;
    RequestArrival.Settings arrival;
    ConnectionLimits connections;

    Copy(ExpertNodeSettings o) {
      nodeId = o.nodeId;
      port = o.port;
      metricsPort = o.metricsPort;
      computeThreads = o.computeThreads;
      blasThreads = o.blasThreads;
      queueCapacity = o.queueCapacity;
      maxBatchTokens = o.maxBatchTokens;
      maxMessageBytes = o.maxMessageBytes;
      drainDelay = o.drainDelay;
      shutdownGrace = o.shutdownGrace;
      leaveTimeout = o.leaveTimeout;
      device = o.device;
      cudaGroupedMaxRows = o.cudaGroupedMaxRows;
      cudaGroupedMaxExpertBytes = o.cudaGroupedMaxExpertBytes;
      cudaScratchReserveBytes = o.cudaScratchReserveBytes;
      arrival = o.arrival;
      connections = o.connections;
    }
  }
}
