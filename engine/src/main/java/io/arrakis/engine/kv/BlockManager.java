package io.arrakis.engine.kv;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Fixed-size KV-cache blocks handed to sequences: a free list, and per sequence a block table (its
 * i-th block holds positions {@code [i·B, (i+1)·B)}) and a length. A step reserves the blocks of
 * all its sequences at once or none ({@link CacheExhaustedException}), so a refusal never touches
 * another sequence. Not thread-safe: one scheduler owns it.
 */
public final class BlockManager {
  private final int blockSize;
  private final int totalBlocks;
  private final ArrayDeque<Integer> free = new ArrayDeque<>();
  private final Map<Long, Sequence> sequences = new HashMap<>();

  private static final class Sequence {
    int[] blocks = new int[4];
    int blockCount;
    int length;
  }

  public BlockManager(int totalBlocks, int blockSize) {
    if (totalBlocks < 1 || blockSize < 1) {
      throw new IllegalArgumentException(
          "need at least one block of at least one token, got "
              + totalBlocks
              + " blocks of "
              + blockSize);
    }
    this.blockSize = blockSize;
    this.totalBlocks = totalBlocks;
    for (int b = 0; b < totalBlocks; b++) {
      free.add(b);
    }
  }

  public int blockSize() {
    return blockSize;
  }

  public int totalBlocks() {
    return totalBlocks;
  }

  public int freeBlocks() {
    return free.size();
  }

  public int usedBlocks() {
    return totalBlocks - free.size();
  }

  /** Tokens cached for a sequence (0 for one not known). */
  public int length(long seq) {
    Sequence s = sequences.get(seq);
    return s == null ? 0 : s.length;
  }

  public boolean contains(long seq) {
    return sequences.containsKey(seq);
  }

  /** Blocks a sequence would need for {@code tokens} more. */
  public int blocksNeeded(long seq, int tokens) {
    Sequence s = sequences.get(seq);
    int length = s == null ? 0 : s.length;
    int have = s == null ? 0 : s.blockCount;
    int want = (length + tokens + blockSize - 1) / blockSize;
    return Math.max(0, want - have);
  }

  /**
   * Extends each sequence by its number of new tokens (all or nothing) and returns each one's first
   * new position.
   */
  public int[] append(long[] seqs, int[] tokens) {
    int needed = 0;
    Map<Long, Integer> seen = new HashMap<>();
    for (int i = 0; i < seqs.length; i++) {
      if (seen.put(seqs[i], i) != null) {
        throw new IllegalArgumentException("sequence " + seqs[i] + " appears twice in one step");
      }
      needed += blocksNeeded(seqs[i], tokens[i]);
    }
    if (needed > free.size()) {
      throw new CacheExhaustedException(needed, free.size(), totalBlocks);
    }
    int[] starts = new int[seqs.length];
    for (int i = 0; i < seqs.length; i++) {
      Sequence s = sequences.computeIfAbsent(seqs[i], k -> new Sequence());
      int add = blocksNeeded(seqs[i], tokens[i]);
      if (s.blockCount + add > s.blocks.length) {
        s.blocks = Arrays.copyOf(s.blocks, Math.max(s.blocks.length * 2, s.blockCount + add));
      }
      for (int b = 0; b < add; b++) {
        s.blocks[s.blockCount++] = free.poll();
      }
      starts[i] = s.length;
      s.length += tokens[i];
    }
    return starts;
  }

  /** The cache row of a sequence's position: {@code block · B + offset}. */
  public int row(long seq, int position) {
    Sequence s = sequences.get(seq);
    if (s == null || position < 0 || position >= s.length) {
      throw new IllegalArgumentException("sequence " + seq + " has no position " + position);
    }
    return s.blocks[position / blockSize] * blockSize + position % blockSize;
  }

  /** A sequence's block table (a copy). */
  public int[] blockTable(long seq) {
    Sequence s = sequences.get(seq);
    return s == null ? new int[0] : Arrays.copyOf(s.blocks, s.blockCount);
  }

  /** Releases a sequence's blocks; unknown sequences are ignored. */
  public void free(long seq) {
    Sequence s = sequences.remove(seq);
    if (s != null) {
      for (int b = 0; b < s.blockCount; b++) {
        free.add(s.blocks[b]);
      }
    }
  }
}
