package io.arrakis.router.serve;

import com.typesafe.config.Config;
import io.arrakis.router.RouterSettings;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * How a router serving a whole model generates ({@code arrakis.router.serve}), read once.
 *
 * @param microBatches micro-batches in flight: while the expert nodes compute one's MoE layer, the
 *     router computes attention for another (1: one step at a time)
 * @param maxStepTokens tokens of one micro-batch's step: one per decoding sequence first, then
 *     prefill chunks
 * @param maxRunning sequences holding KV-cache blocks at once
 * @param maxSequences requests accepted at once (running and waiting); past it, RESOURCE_EXHAUSTED
 *     at once
 * @param kvCacheBytes KV-cache memory; 0 = a quarter of the heap
 * @param blockSize tokens per KV-cache block
 * @param defaultMaxTokens tokens generated when a request says none (and the model's
 *     generation_config.json neither)
 * @param defaultDeadline a Generate call's deadline when it comes without one
 * @param maxDeadline the furthest deadline honoured
 * @param layerTimeout longest one MoE layer of a step may take on the expert nodes, retries
 *     included
 * @param maxStopStrings stop strings of one request
 * @param maxStopLength characters of one stop string
 * @param promptThreads threads that tokenize prompts and render chat templates
 * @param promptQueue requests that may wait for them; past it, RESOURCE_EXHAUSTED
 * @param streamBuffer Generate messages that may wait for a client that does not read, beyond what
 *     gRPC's transport holds; past it the request is cancelled and its call ends RESOURCE_EXHAUSTED
 * @param prefixCaching a request whose tokens begin as an earlier one's reuses the KV-cache blocks
 *     of that beginning instead of computing them again
 */
public record ServeSettings(
    int microBatches,
    int maxStepTokens,
    int maxRunning,
    int maxSequences,
    long kvCacheBytes,
    int blockSize,
    int defaultMaxTokens,
    Duration defaultDeadline,
    Duration maxDeadline,
    Duration layerTimeout,
    int maxStopStrings,
    int maxStopLength,
    int promptThreads,
    int promptQueue,
    int streamBuffer,
    boolean prefixCaching) {

  public ServeSettings {
    positive("micro-batches", microBatches);
    positive("max-step-tokens", maxStepTokens);
    positive("max-running", maxRunning);
    positive("max-sequences", maxSequences);
    positive("block-size", blockSize);
    positive("default-max-tokens", defaultMaxTokens);
    positive("max-stop-strings", maxStopStrings);
    positive("max-stop-length", maxStopLength);
    positive("prompt-threads", promptThreads);
    positive("prompt-queue", promptQueue);
    positive("stream-buffer", streamBuffer);
    if (kvCacheBytes < 0) {
      throw new IllegalArgumentException(
          "arrakis.router.serve.kv-cache-mb must be >= 0, got " + (kvCacheBytes >> 20));
    }
    timeout("default-deadline", defaultDeadline);
    timeout("max-deadline", maxDeadline);
    timeout("layer-timeout", layerTimeout);
  }

  private static void positive(String key, long v) {
    if (v < 1) {
      throw new IllegalArgumentException(
          "arrakis.router.serve." + key + " must be positive, got " + v);
    }
  }

  private static void timeout(String key, Duration d) {
    if (d.isNegative() || d.isZero() || d.compareTo(RouterSettings.MAX_TIMEOUT) > 0) {
      throw new IllegalArgumentException(
          "arrakis.router.serve."
              + key
              + " must be positive and at most "
              + RouterSettings.MAX_TIMEOUT
              + ", got "
              + d);
    }
  }

  public static ServeSettings from(Config root) {
    Config c = root.getConfig("arrakis.router.serve");
    return new ServeSettings(
        c.getInt("micro-batches"),
        c.getInt("max-step-tokens"),
        c.getInt("max-running"),
        c.getInt("max-sequences"),
        c.getLong("kv-cache-mb") << 20,
        c.getInt("block-size"),
        c.getInt("default-max-tokens"),
        c.getDuration("default-deadline"),
        c.getDuration("max-deadline"),
        c.getDuration("layer-timeout"),
        c.getInt("max-stop-strings"),
        c.getInt("max-stop-length"),
        c.getInt("prompt-threads"),
        c.getInt("prompt-queue"),
        c.getInt("stream-buffer"),
        c.getBoolean("prefix-caching"));
  }

  /** The KV cache's bytes: as set, or a quarter of this JVM's heap. */
  public long kvCacheBytesOrDefault() {
    return kvCacheBytes > 0 ? kvCacheBytes : Runtime.getRuntime().maxMemory() / 4;
  }

  public ServeSettings withMicroBatches(int n) {
    return with(b -> b.microBatches = n);
  }

  public ServeSettings withMaxSequences(int n) {
    return with(b -> b.maxSequences = n);
  }

  public ServeSettings withKvCache(long bytes, int blockTokens) {
    return with(
        b -> {
          b.kvCacheBytes = bytes;
          b.blockSize = blockTokens;
        });
  }

  public ServeSettings withMaxStepTokens(int n) {
    return with(b -> b.maxStepTokens = n);
  }

  public ServeSettings withPrefixCaching(boolean on) {
    return with(b -> b.prefixCaching = on);
  }

  /** A copy with {@code change} applied, checked as every instance is. */
  private ServeSettings with(Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return new ServeSettings(
        b.microBatches,
        b.maxStepTokens,
        b.maxRunning,
        b.maxSequences,
        b.kvCacheBytes,
        b.blockSize,
        b.defaultMaxTokens,
        b.defaultDeadline,
        b.maxDeadline,
        b.layerTimeout,
        b.maxStopStrings,
        b.maxStopLength,
        b.promptThreads,
        b.promptQueue,
        b.streamBuffer,
        b.prefixCaching);
  }

  /** The components of an instance, to change some before making a new one. */
  private static final class Copy {
    int microBatches;
    int maxStepTokens;
    int maxRunning;
    int maxSequences;
    long kvCacheBytes;
    int blockSize;
    int defaultMaxTokens;
    Duration defaultDeadline;
    Duration maxDeadline;
    Duration layerTimeout;
    int maxStopStrings;
    int maxStopLength;
    int promptThreads;
    int promptQueue;
    int streamBuffer;
    boolean prefixCaching;

    Copy(ServeSettings o) {
      microBatches = o.microBatches;
      maxStepTokens = o.maxStepTokens;
      maxRunning = o.maxRunning;
      maxSequences = o.maxSequences;
      kvCacheBytes = o.kvCacheBytes;
      blockSize = o.blockSize;
      defaultMaxTokens = o.defaultMaxTokens;
      defaultDeadline = o.defaultDeadline;
      maxDeadline = o.maxDeadline;
      layerTimeout = o.layerTimeout;
      maxStopStrings = o.maxStopStrings;
      maxStopLength = o.maxStopLength;
      promptThreads = o.promptThreads;
      promptQueue = o.promptQueue;
      streamBuffer = o.streamBuffer;
      prefixCaching = o.prefixCaching;
    }
  }
}
