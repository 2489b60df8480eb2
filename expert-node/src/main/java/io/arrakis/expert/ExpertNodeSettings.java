package io.arrakis.expert;

import com.typesafe.config.Config;
import java.time.Duration;

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
    long cudaScratchReserveBytes) {

  public ExpertNodeSettings {
    if (computeThreads <= 0) {
      computeThreads = Runtime.getRuntime().availableProcessors();
    }
    if (queueCapacity < 0 || maxBatchTokens <= 0 || maxMessageBytes <= 0) {
      throw new IllegalArgumentException("queue-capacity, max-batch-tokens and max-message-bytes must be positive");
    }
    if (cudaGroupedMaxRows < 0 || cudaGroupedMaxExpertBytes < 0 || cudaScratchReserveBytes < 0) {
      throw new IllegalArgumentException("cuda.grouped-max-rows, cuda.grouped-max-expert-size and cuda.scratch-reserve "
          + "must not be negative");
    }
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
        c.getBytes("cuda.scratch-reserve"));
  }

  public ExpertNodeSettings withNodeId(String id) {
    return new ExpertNodeSettings(id, port, metricsPort, computeThreads, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, leaveTimeout, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withPort(int p) {
    return new ExpertNodeSettings(nodeId, p, metricsPort, computeThreads, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, leaveTimeout, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withMetricsPort(int p) {
    return new ExpertNodeSettings(nodeId, port, p, computeThreads, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, leaveTimeout, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withComputeThreads(int n) {
    return new ExpertNodeSettings(nodeId, port, metricsPort, n, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, leaveTimeout, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withQueueCapacity(int n) {
    return new ExpertNodeSettings(nodeId, port, metricsPort, computeThreads, blasThreads, n, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, leaveTimeout, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withDrainDelay(Duration d) {
    return new ExpertNodeSettings(nodeId, port, metricsPort, computeThreads, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, d, shutdownGrace, leaveTimeout, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withLeaveTimeout(Duration d) {
    return new ExpertNodeSettings(nodeId, port, metricsPort, computeThreads, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, d, device, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }

  public ExpertNodeSettings withDevice(String dev) {
    return new ExpertNodeSettings(nodeId, port, metricsPort, computeThreads, blasThreads, queueCapacity, maxBatchTokens, maxMessageBytes, drainDelay, shutdownGrace, leaveTimeout, dev, cudaGroupedMaxRows, cudaGroupedMaxExpertBytes, cudaScratchReserveBytes);
  }
}
