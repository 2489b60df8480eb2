package io.arrakis.model.kernel.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * How one batch runs on the device, worked out on the host: every (token, expert) pair becomes a
 * slot; slots are numbered expert by expert, the experts with many rows first (they run as one
 * cuBLAS GEMM pair each on rows gathered on the device), then the experts with few rows (the
 * weight-bound case), grouped into tiles for one grouped kernel launch per tile size. The combine
 * step adds each token's slots in the order of the work list, as the CPU backend does.
 *
 * <p>The device reads the plan from one buffer ({@link #write}): the tiles of each size, then per
 * slot its token row and gate weight, then per token its slots (start offsets and slot ids).
 */
final class CudaPlan {
  /**
   * Token-tile sizes of the grouped kernels, in n8 blocks: gateup_nb1 … gateup_nb8 and down_nb*.
   */
  static final int[] TILE_BLOCKS = {1, 2, 4, 8};

  /** Most rows one grouped tile takes (8 × the largest block count); more rows take more tiles. */
  static final int MAX_TILE_ROWS = 64;

  static final int TILE_BYTES = 24;

  final int tokens;
  final int slots;

  /** Slots [0, bigSlots) belong to the cuBLAS experts. */
  final int bigSlots;

  /** Per cuBLAS expert: its work index, first slot and row count. */
  final int[] bigWork;

  final int[] bigSlot0;
  final int[] bigRows;

  /** Per tile size (index into TILE_BLOCKS): tiles as (work index, first slot, rows). */
  final int[][] tileWork;

  final int[][] tileSlot0;
  final int[][] tileRows;
  final int[] slotRows;
  final float[] slotWeights;
  final int[] tokenStart;
  final int[] tokenSlots;

  private CudaPlan(
      int tokens,
      int slots,
      int bigSlots,
      int[] bigWork,
      int[] bigSlot0,
      int[] bigRows,
      int[][] tileWork,
      int[][] tileSlot0,
      int[][] tileRows,
      int[] slotRows,
      float[] slotWeights,
      int[] tokenStart,
      int[] tokenSlots) {
    this.tokens = tokens;
    this.slots = slots;
    this.bigSlots = bigSlots;
    this.bigWork = bigWork;
    this.bigSlot0 = bigSlot0;
    this.bigRows = bigRows;
    this.tileWork = tileWork;
    this.tileSlot0 = tileSlot0;
    this.tileRows = tileRows;
    this.slotRows = slotRows;
    this.slotWeights = slotWeights;
    this.tokenStart = tokenStart;
    this.tokenSlots = tokenSlots;
  }

  /**
   * Plans a batch of {@code tokens} rows.
   *
   * @param rows per work item, its rows (each in [0, tokens))
   * @param weights per work item, the gate weight of each row
   * @param groupedMaxRows work items with at most this many rows go to the grouped kernels, the
   *     rest to cuBLAS; 0 sends every item to cuBLAS
   */
  static CudaPlan of(int tokens, int[][] rows, float[][] weights, int groupedMaxRows) {
    return of(tokens, rows, weights, i -> rows[i].length <= groupedMaxRows);
  }

  /**
   * Plans a batch of {@code tokens} rows, running work item i in the grouped kernels where {@code
   * grouped.test(i)}, as cuBLAS GEMMs elsewhere.
   */
  static CudaPlan of(int tokens, int[][] rows, float[][] weights, IntPredicate grouped) {
    int items = rows.length;
    int slots = 0;
    int bigCount = 0;
    boolean[] big = new boolean[items];
    for (int i = 0; i < items; i++) {
      slots += rows[i].length;
      big[i] = rows[i].length > 0 && !grouped.test(i);
      if (big[i]) {
        bigCount++;
      }
    }
    int[] itemSlot0 = new int[items];
    int[] bigWork = new int[bigCount];
    int[] bigSlot0 = new int[bigCount];
    int[] bigRows = new int[bigCount];
    int next = 0;
    int b = 0;
    for (int i = 0; i < items; i++) {
      if (big[i]) {
        itemSlot0[i] = next;
        bigWork[b] = i;
        bigSlot0[b] = next;
        bigRows[b++] = rows[i].length;
        next += rows[i].length;
      }
    }
    int bigSlots = next;
    // grouped items, ordered by tile size so that each size's tiles (and slots) are contiguous
    int[] tilesPerSize = new int[TILE_BLOCKS.length];
    for (int i = 0; i < items; i++) {
      int[] r = rows[i];
      if (!big[i] && r.length > 0) {
        int full = r.length / MAX_TILE_ROWS;
        tilesPerSize[TILE_BLOCKS.length - 1] += full;
        int rest = r.length % MAX_TILE_ROWS;
        if (rest > 0) {
          tilesPerSize[sizeFor(rest)]++;
        }
      }
    }
    int[][] tileWork = new int[TILE_BLOCKS.length][];
    int[][] tileSlot0 = new int[TILE_BLOCKS.length][];
    int[][] tileRows = new int[TILE_BLOCKS.length][];
    int[] filled = new int[TILE_BLOCKS.length];
    for (int s = 0; s < TILE_BLOCKS.length; s++) {
      tileWork[s] = new int[tilesPerSize[s]];
      tileSlot0[s] = new int[tilesPerSize[s]];
      tileRows[s] = new int[tilesPerSize[s]];
    }
    for (int size = 0; size < TILE_BLOCKS.length; size++) {
      for (int i = 0; i < items; i++) {
        int n = rows[i].length;
        if (big[i] || n == 0 || sizeOfItem(n) != size) {
          continue;
        }
        itemSlot0[i] = next;
        for (int at = 0; at < n; at += MAX_TILE_ROWS) {
          int m = Math.min(MAX_TILE_ROWS, n - at);
          int s = sizeFor(m);
          int k = filled[s]++;
          tileWork[s][k] = i;
          tileSlot0[s][k] = next + at;
          tileRows[s][k] = m;
        }
        next += n;
      }
    }
    int[] slotRows = new int[slots];
    float[] slotWeights = new float[slots];
    int[] count = new int[tokens + 1];
    for (int i = 0; i < items; i++) {
      for (int j = 0; j < rows[i].length; j++) {
        slotRows[itemSlot0[i] + j] = rows[i][j];
        slotWeights[itemSlot0[i] + j] = weights[i][j];
        count[rows[i][j] + 1]++;
      }
    }
    int[] tokenStart = new int[tokens + 1];
    for (int t = 0; t < tokens; t++) {
      tokenStart[t + 1] = tokenStart[t] + count[t + 1];
    }
    int[] fill = Arrays.copyOf(tokenStart, tokens);
    int[] tokenSlots = new int[slots];
    for (int i = 0; i < items; i++) { // work-list order: the order the sums are taken in
      for (int j = 0; j < rows[i].length; j++) {
        tokenSlots[fill[rows[i][j]]++] = itemSlot0[i] + j;
      }
    }
    return new CudaPlan(
        tokens,
        slots,
        bigSlots,
        bigWork,
        bigSlot0,
        bigRows,
        tileWork,
        tileSlot0,
        tileRows,
        slotRows,
        slotWeights,
        tokenStart,
        tokenSlots);
  }

  /** The tile size of an item's rows: that of its last (or only) tile decides its group. */
  private static int sizeOfItem(int n) {
    int rest = n % MAX_TILE_ROWS;
    return rest == 0 ? TILE_BLOCKS.length - 1 : sizeFor(rest);
  }

  /** The smallest tile size (index into TILE_BLOCKS) that holds {@code rows} rows. */
  static int sizeFor(int rows) {
    for (int s = 0; s < TILE_BLOCKS.length; s++) {
      if (rows <= 8 * TILE_BLOCKS[s]) {
        return s;
      }
    }
    throw new IllegalArgumentException(rows + " rows exceed a tile");
  }

  int tiles(int size) {
    return tileWork[size].length;
  }

  /** Bytes of {@link #write}'s output. */
  long bytes() {
    long tiles = 0;
    for (int[] t : tileWork) {
      tiles += t.length;
    }
    return tiles * TILE_BYTES + 3L * slots * 4 + (tokens + 1L) * 4;
  }

  /** Offset of the first tile of a size within the plan bytes. */
  long tileOffset(int size) {
    long at = 0;
    for (int s = 0; s < size; s++) {
      at += (long) tileWork[s].length * TILE_BYTES;
    }
    return at;
  }

  long slotRowsOffset() {
    return tileOffset(TILE_BLOCKS.length);
  }

  long slotWeightsOffset() {
    return slotRowsOffset() + 4L * slots;
  }

  long tokenStartOffset() {
    return slotWeightsOffset() + 4L * slots;
  }

  long tokenSlotsOffset() {
    return tokenStartOffset() + 4L * (tokens + 1);
  }

  /**
   * Writes the plan at {@code out}'s position (little-endian), with the device addresses of each
   * work item's W13 and W2.
   */
  void write(ByteBuffer out, long[] w13, long[] w2) {
    ByteBuffer b = out.slice().order(ByteOrder.LITTLE_ENDIAN);
    for (int s = 0; s < TILE_BLOCKS.length; s++) {
      for (int k = 0; k < tileWork[s].length; k++) {
        int item = tileWork[s][k];
        b.putLong(w13[item]).putLong(w2[item]).putInt(tileSlot0[s][k]).putInt(tileRows[s][k]);
      }
    }
    for (int r : slotRows) {
      b.putInt(r);
    }
    for (float w : slotWeights) {
      b.putFloat(w);
    }
    for (int t : tokenStart) {
      b.putInt(t);
    }
    for (int s : tokenSlots) {
      b.putInt(s);
    }
    out.position(out.position() + b.position());
  }
}
