package io.arrakis.engine.kv;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;

/**
 * Fixed-size KV-cache blocks handed to sequences: per sequence a block table (its i-th block holds
 * positions {@code [i·B, (i+1)·B)}) and a length. A step reserves the blocks of all its sequences
 * at once or none ({@link CacheExhaustedException}), so a refusal never touches another sequence.
 *
 * <p>Prefix caching, as vLLM does it: once a step that filled a block has run ({@link #commit}),
 * the block is known by its content, its tokens and the content of the blocks before it, and a
 * later sequence whose tokens begin the same way takes it ({@link #reusePrefix}) instead of
 * computing those positions again. Blocks are counted by reference; a block nobody holds is free
 * but keeps its content until it is handed out again, least recently freed first. A block's content
 * is identified exactly (tokens compared, parents by a number never reused), never by a hash that
 * could collide. Not thread-safe: one scheduler owns it.
 */
public final class BlockManager {
  private final int blockSize;
  private final int totalBlocks;

  /** Blocks nobody holds, least recently freed first: handed out from the front. */
  private final LinkedHashSet<Integer> free = new LinkedHashSet<>();

  private final int[] refs;

  /** What a cached block holds, null for none. */
  private final Content[] contents;

  private final Map<Content, Integer> cached = new HashMap<>();
  private final Map<Long, Sequence> sequences = new HashMap<>();
  private long nextContentId = 1;

  /**
   * A full block's content: its tokens after the content numbered {@code parent} (0: the start),
   * and for a first block the salt of the sequences that may share it (null: any unsalted one).
   */
  private record Content(long parent, int[] tokens, String salt, long id) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Content c
          && c.parent == parent
          && Arrays.equals(c.tokens, tokens)
          && Objects.equals(c.salt, salt);
    }

    @Override
    public int hashCode() {
      return 31 * (31 * Long.hashCode(parent) + Arrays.hashCode(tokens)) + Objects.hashCode(salt);
    }
  }

  private static final class Sequence {
    int[] blocks = new int[4];
    int blockCount;
    int length;
    int[] tokens = new int[16];

    /** Leading blocks whose content is known (committed full blocks). */
    int known;

    /** The content number of block {@code known - 1}, 0 before the first. */
    long lastContent;

    /** Only sequences with the same salt share its blocks (null: the unsalted ones). */
    String salt;
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
    this.refs = new int[totalBlocks];
    this.contents = new Content[totalBlocks];
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

  /** Blocks nobody holds, cached ones included (they are handed out when needed). */
  public int freeBlocks() {
    return free.size();
  }

  public int usedBlocks() {
    return totalBlocks - free.size();
  }

  /** Blocks whose content a later sequence may reuse (held or free). */
  public int cachedBlocks() {
    return cached.size();
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

  /** {@link #reusePrefix(long, int[], int, String)} for an unsalted sequence. */
  public int reusePrefix(long seq, int[] tokens, int limit) {
    return reusePrefix(seq, tokens, limit, null);
  }

  /**
   * Starts a sequence with the longest run of cached full blocks that its first {@code limit}
   * tokens begin with, and returns how many tokens they hold (a multiple of the block size, 0 for
   * none): the sequence's next tokens go after them. Reused blocks that were free are held now
   * ({@link #freeBlocks} falls by them). A sequence that has blocks already reuses nothing.
   *
   * @param salt only blocks of sequences started with the same salt are reused, and only they will
   *     reuse this one's (vLLM's {@code cache_salt}: one tenant cannot time whether another's
   *     prompt began as its own); null: the unsalted sequences'
   */
  public int reusePrefix(long seq, int[] tokens, int limit, String salt) {
    if (sequences.containsKey(seq)) {
      return 0;
    }
    Sequence s = new Sequence();
    s.salt = salt;
    long parent = 0;
    for (int start = 0; start + blockSize <= Math.min(limit, tokens.length); start += blockSize) {
      int[] block = Arrays.copyOfRange(tokens, start, start + blockSize);
      Integer b = cached.get(new Content(parent, block, parent == 0 ? salt : null, 0));
      if (b == null) {
        break;
      }
      hold(b);
      add(s, b);
      parent = contents[b].id();
    }
    if (s.blockCount == 0) {
      if (salt != null) {
        sequences.put(seq, s); // empty, to name its blocks with its salt when they fill
      }
      return 0;
    }
    s.length = s.blockCount * blockSize;
    s.tokens = Arrays.copyOf(tokens, Math.max(s.length, 16));
    s.known = s.blockCount;
    s.lastContent = parent;
    sequences.put(seq, s);
    return s.length;
  }

  /**
   * Extends each sequence by its new tokens (all or nothing) and returns each one's first new
   * position.
   */
  public int[] append(long[] seqs, int[][] tokens) {
    int needed = 0;
    Map<Long, Integer> seen = new HashMap<>();
    for (int i = 0; i < seqs.length; i++) {
      if (seen.put(seqs[i], i) != null) {
        throw new IllegalArgumentException("sequence " + seqs[i] + " appears twice in one step");
      }
      needed += blocksNeeded(seqs[i], tokens[i].length);
    }
    if (needed > free.size()) {
      throw new CacheExhaustedException(needed, free.size(), totalBlocks);
    }
    int[] starts = new int[seqs.length];
    for (int i = 0; i < seqs.length; i++) {
      Sequence s = sequences.computeIfAbsent(seqs[i], k -> new Sequence());
      int add = blocksNeeded(seqs[i], tokens[i].length);
      for (int b = 0; b < add; b++) {
        add(s, takeFree());
      }
      starts[i] = s.length;
      if (s.length + tokens[i].length > s.tokens.length) {
        s.tokens =
            Arrays.copyOf(s.tokens, Math.max(s.tokens.length * 2, s.length + tokens[i].length));
      }
      System.arraycopy(tokens[i], 0, s.tokens, s.length, tokens[i].length);
      s.length += tokens[i].length;
    }
    return starts;
  }

  /**
   * The sequence's positions so far are computed (the step that wrote them has run): its full
   * blocks become reusable by content. Until then a block may be half written, so a sequence must
   * not be committed after a failed step.
   */
  public void commit(long seq) {
    Sequence s = sequences.get(seq);
    if (s == null) {
      return;
    }
    for (; s.known < s.length / blockSize; s.known++) {
      int start = s.known * blockSize;
      Content c =
          new Content(
              s.lastContent,
              Arrays.copyOfRange(s.tokens, start, start + blockSize),
              s.known == 0 ? s.salt : null,
              nextContentId);
      Integer same = cached.get(c);
      if (same != null) { // another block holds this content already: it stays the one reused
        s.lastContent = contents[same].id();
        continue;
      }
      int b = s.blocks[s.known];
      nextContentId++;
      contents[b] = c;
      cached.put(c, b);
      s.lastContent = c.id();
    }
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

  /**
   * Releases a sequence's blocks (unknown sequences are ignored). Its last blocks are freed first,
   * so they are handed out again before its first ones, which more sequences share.
   */
  public void free(long seq) {
    Sequence s = sequences.remove(seq);
    if (s != null) {
      for (int i = s.blockCount - 1; i >= 0; i--) {
        int b = s.blocks[i];
        if (--refs[b] == 0) {
          free.add(b);
        }
      }
    }
  }

  private void hold(int b) {
    if (refs[b]++ == 0) {
      free.remove(b);
    }
  }

  /** The least recently freed block, its cached content forgotten. */
  private int takeFree() {
    Iterator<Integer> it = free.iterator();
    int b = it.next();
    it.remove();
    refs[b] = 1;
    if (contents[b] != null) {
      cached.remove(contents[b]);
      contents[b] = null;
    }
    return b;
  }

  private static void add(Sequence s, int b) {
    if (s.blockCount == s.blocks.length) {
      s.blocks = Arrays.copyOf(s.blocks, s.blocks.length * 2);
    }
    s.blocks[s.blockCount++] = b;
  }
}
