package io.arrakis.engine.kv;

/** A step needs more KV-cache blocks than are free; nothing was allocated or written. */
public final class CacheExhaustedException extends RuntimeException {
  private final int needed;
  private final int free;

  public CacheExhaustedException(int needed, int free, int total) {
    super(
        "KV cache exhausted: the step needs "
            + needed
            + " more blocks, "
            + free
            + " of "
            + total
            + " are free");
    this.needed = needed;
    this.free = free;
  }

  public int needed() {
    return needed;
  }

  public int free() {
    return free;
  }
}
