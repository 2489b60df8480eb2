package io.arrakis.engine;

/**
 * The KV cache's size and how it is cut into blocks.
 *
 * @param kvCacheBytes memory for the KV cache (all layers); it decides how many blocks there are
 * @param blockSize tokens per KV-cache block
 */
public record EngineOptions(long kvCacheBytes, int blockSize) {
  public static final EngineOptions DEFAULT = new EngineOptions(256L << 20, 16);

  public EngineOptions {
    if (kvCacheBytes <= 0 || blockSize <= 0) {
      throw new IllegalArgumentException("KV cache bytes and block size must be positive");
    }
  }

  public EngineOptions withKvCacheBytes(long bytes) {
    return new EngineOptions(bytes, blockSize);
  }

  public EngineOptions withBlockSize(int tokens) {
    return new EngineOptions(kvCacheBytes, tokens);
  }
}
