package io.arrakis.engine.layers;

import io.arrakis.engine.kv.KvCache;

/**
 * What a layer needs to know about the rows of one batch step: N rows (tokens), grouped in chunks
 * of one sequence each; each row's position and cache row; each chunk's cache rows for positions
 * {@code 0 .. end}, so that attention walks a sequence's block table without lookups.
 */
public final class StepContext {
  private final int rows;
  private final int[] positions;
  private final int[] cacheRows;
  private final int[] chunkStart;
  private final int[] chunkRows;
  private final int[][] chunkContext;
  private final KvCache cache;
  private final float[][] ropeTable;

  public StepContext(
      int[] positions,
      int[] cacheRows,
      int[] chunkStart,
      int[] chunkRows,
      int[][] chunkContext,
      KvCache cache,
      float[][] ropeTable) {
    this.rows = positions.length;
    this.positions = positions;
    this.cacheRows = cacheRows;
    this.chunkStart = chunkStart;
    this.chunkRows = chunkRows;
    this.chunkContext = chunkContext;
    this.cache = cache;
    this.ropeTable = ropeTable;
  }

  public int rows() {
    return rows;
  }

  public int position(int row) {
    return positions[row];
  }

  /** The cache row that row {@code r}'s keys and values go to. */
  public int cacheRow(int r) {
    return cacheRows[r];
  }

  public int chunks() {
    return chunkStart.length;
  }

  public int chunkStart(int c) {
    return chunkStart[c];
  }

  public int chunkRows(int c) {
    return chunkRows[c];
  }

  /** Cache rows of chunk c's sequence for positions 0 .. its last new position. */
  public int[] context(int c) {
    return chunkContext[c];
  }

  public KvCache cache() {
    return cache;
  }

  /** The rope cos/sin table of the rows' positions. */
  public float[][] ropeTable() {
    return ropeTable;
  }
}
