package io.arrakis.model.kernel.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.tensor.Bf16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/**
 * The host-side plan of a CUDA batch: every (item, row) pair gets exactly one slot, cuBLAS items
 * first, grouped items in tiles that fit their kernels, each token's slots listed in work order;
 * and the plan, executed step by step as the kernels do with bf16 rounding where the device rounds,
 * gives the MoE layer's answer.
 */
class CudaPlanTest {
  private static final int[] THRESHOLDS = {0, 1, 8, 64, 100, Integer.MAX_VALUE};

  @RepeatedTest(20)
  void everyPairHasOneSlotAndEveryTokenListsItsSlotsInWorkOrder() {
    SplittableRandom r = new SplittableRandom();
    int tokens = 1 + r.nextInt(300);
    int[][] rows = randomRows(r, tokens, 1 + r.nextInt(12));
    float[][] weights = randomWeights(r, rows);
    for (int threshold : THRESHOLDS) {
      CudaPlan plan = CudaPlan.of(tokens, rows, weights, threshold);
      int pairs = 0;
      for (int[] item : rows) {
        pairs += item.length;
      }
      assertThat(plan.slots).isEqualTo(pairs);
      // cuBLAS items own the slots [0, bigSlots), one contiguous run each
      int big = 0;
      for (int b = 0; b < plan.bigWork.length; b++) {
        assertThat(rows[plan.bigWork[b]].length)
            .isGreaterThan(threshold)
            .isEqualTo(plan.bigRows[b]);
        assertThat(plan.bigSlot0[b]).isEqualTo(big);
        big += plan.bigRows[b];
      }
      assertThat(plan.bigSlots).isEqualTo(big);
      // tiles cover every grouped slot once, within their size
      Set<Integer> covered = new HashSet<>();
      for (int s = 0; s < CudaPlan.TILE_BLOCKS.length; s++) {
        for (int k = 0; k < plan.tiles(s); k++) {
          int n = plan.tileRows[s][k];
          assertThat(n).isBetween(1, 8 * CudaPlan.TILE_BLOCKS[s]);
          assertThat(s == 0 || n > 8 * CudaPlan.TILE_BLOCKS[s - 1])
              .as("smallest tile that fits")
              .isTrue();
          for (int i = 0; i < n; i++) {
            int slot = plan.tileSlot0[s][k] + i;
            assertThat(slot).isGreaterThanOrEqualTo(plan.bigSlots);
            assertThat(covered.add(slot)).as("slot %d in two tiles", slot).isTrue();
            assertThat(rows[plan.tileWork[s][k]].length).isLessThanOrEqualTo(threshold);
          }
        }
      }
      assertThat(covered).hasSize(plan.slots - plan.bigSlots);
      // each token's slots, in work order, name its rows and weights
      for (int t = 0; t < tokens; t++) {
        List<Float> want = new ArrayList<>();
        for (int i = 0; i < rows.length; i++) {
          for (int j = 0; j < rows[i].length; j++) {
            if (rows[i][j] == t) {
              want.add(weights[i][j]);
            }
          }
        }
        List<Float> got = new ArrayList<>();
        for (int at = plan.tokenStart[t]; at < plan.tokenStart[t + 1]; at++) {
          int slot = plan.tokenSlots[at];
          assertThat(plan.slotRows[slot]).isEqualTo(t);
          got.add(plan.slotWeights[slot]);
        }
        assertThat(got).isEqualTo(want);
      }
    }
  }

  @Test
  void theDeviceBufferHoldsTilesThenSlotsThenTokensAtTheOffsetsTheKernelsAreGiven() {
    int[][] rows = {{0, 2}, {1}, {0, 1, 2}};
    float[][] weights = {{0.5f, 0.25f}, {1f}, {0.5f, 0.5f, 0.75f}};
    CudaPlan plan = CudaPlan.of(3, rows, weights, 2);
    ByteBuffer b = ByteBuffer.allocate((int) plan.bytes() + 8).order(ByteOrder.LITTLE_ENDIAN);
    b.position(8);
    plan.write(b, new long[] {100, 200, 300}, new long[] {101, 201, 301});
    assertThat(b.position()).isEqualTo(8 + plan.bytes());
    ByteBuffer p = b.position(8).slice().order(ByteOrder.LITTLE_ENDIAN);
    // item 2 (3 rows) goes to cuBLAS; items 0 and 1 are one nb1 tile each
    assertThat(plan.bigWork).containsExactly(2);
    assertThat(plan.tiles(0)).isEqualTo(2);
    assertThat(p.getLong(0)).isEqualTo(100);
    assertThat(p.getLong(8)).isEqualTo(101);
    assertThat(p.getInt(16)).isEqualTo(3); // first slot after the three cuBLAS slots
    assertThat(p.getInt(20)).isEqualTo(2);
    assertThat(p.getLong(24)).isEqualTo(200);
    assertThat(p.getInt(24 + 16)).isEqualTo(5);
    assertThat(p.getInt(24 + 20)).isEqualTo(1);
    int at = (int) plan.slotRowsOffset();
    assertThat(at).isEqualTo(48);
    int[] slotRows = new int[6];
    for (int i = 0; i < 6; i++) {
      slotRows[i] = p.getInt(at + 4 * i);
    }
    assertThat(slotRows).containsExactly(0, 1, 2, 0, 2, 1);
    assertThat(p.getFloat((int) plan.slotWeightsOffset() + 4 * 2)).isEqualTo(0.75f);
    int ts = (int) plan.tokenStartOffset();
    assertThat(new int[] {p.getInt(ts), p.getInt(ts + 4), p.getInt(ts + 8), p.getInt(ts + 12)})
        .containsExactly(0, 2, 4, 6);
    int tl = (int) plan.tokenSlotsOffset();
    // token 0: item 0's slot (3) then item 2's (0); token 2: item 0's (4) then item 2's (2)
    assertThat(new int[] {p.getInt(tl), p.getInt(tl + 4), p.getInt(tl + 16), p.getInt(tl + 20)})
        .containsExactly(3, 0, 4, 2);
  }

  @RepeatedTest(5)
  void executedAsTheKernelsDoThePlanComputesTheLayerWithinBf16Tolerance() {
    SplittableRandom r = new SplittableRandom();
    int d = 8 * (2 + r.nextInt(6));
    int ff = 8 * (2 + r.nextInt(6));
    int tokens = 1 + r.nextInt(90);
    int experts = 1 + r.nextInt(6);
    float[][][] w13 = new float[experts][2 * ff][d];
    float[][][] w2 = new float[experts][d][ff];
    for (int e = 0; e < experts; e++) {
      fill(r, w13[e], 1 / Math.sqrt(d));
      fill(r, w2[e], 1 / Math.sqrt(ff));
    }
    float[][] x = new float[tokens][d];
    fill(r, x, 1);
    int[][] rows = randomRows(r, tokens, experts);
    float[][] weights = randomWeights(r, rows);
    float[][] want = reference(x, w13, w2, rows, weights, ff);
    for (int threshold : THRESHOLDS) {
      float[][] got = emulate(CudaPlan.of(tokens, rows, weights, threshold), x, w13, w2, ff);
      double max = 0;
      double err = 0;
      for (int t = 0; t < tokens; t++) {
        for (int c = 0; c < d; c++) {
          max = Math.max(max, Math.abs(want[t][c]));
          err = Math.max(err, Math.abs(got[t][c] - want[t][c]));
        }
      }
      assertThat(err).as("threshold %d", threshold).isLessThanOrEqualTo(2e-2 * max);
    }
  }

  /** The device's steps from the plan's arrays: bf16 rows and activations, float accumulation. */
  private static float[][] emulate(
      CudaPlan plan, float[][] x, float[][][] w13, float[][][] w2, int ff) {
    int d = x[0].length;
    int[] itemOfSlot = new int[plan.slots];
    for (int b = 0; b < plan.bigWork.length; b++) {
      for (int i = 0; i < plan.bigRows[b]; i++) {
        itemOfSlot[plan.bigSlot0[b] + i] = plan.bigWork[b];
      }
    }
    for (int s = 0; s < CudaPlan.TILE_BLOCKS.length; s++) {
      for (int k = 0; k < plan.tiles(s); k++) {
        for (int i = 0; i < plan.tileRows[s][k]; i++) {
          itemOfSlot[plan.tileSlot0[s][k] + i] = plan.tileWork[s][k];
        }
      }
    }
    float[][] y = new float[plan.slots][d];
    for (int slot = 0; slot < plan.slots; slot++) {
      int e = itemOfSlot[slot];
      float[] xr = x[plan.slotRows[slot]];
      float[] a = new float[ff];
      for (int j = 0; j < ff; j++) {
        float g = 0;
        float u = 0;
        for (int i = 0; i < d; i++) {
          g += Bf16.round(w13[e][j][i]) * Bf16.round(xr[i]);
          u += Bf16.round(w13[e][ff + j][i]) * Bf16.round(xr[i]);
        }
        a[j] = Bf16.round(g / (1 + (float) Math.exp(-g)) * u);
      }
      for (int c = 0; c < d; c++) {
        float s = 0;
        for (int j = 0; j < ff; j++) {
          s += Bf16.round(w2[e][c][j]) * a[j];
        }
        y[slot][c] = s;
      }
    }
    float[][] out = new float[plan.tokens][d];
    for (int t = 0; t < plan.tokens; t++) {
      for (int at = plan.tokenStart[t]; at < plan.tokenStart[t + 1]; at++) {
        int slot = plan.tokenSlots[at];
        for (int c = 0; c < d; c++) {
          out[t][c] += plan.slotWeights[slot] * y[slot][c];
        }
      }
    }
    return out;
  }

  private static float[][] reference(
      float[][] x, float[][][] w13, float[][][] w2, int[][] rows, float[][] weights, int ff) {
    int d = x[0].length;
    float[][] out = new float[x.length][d];
    for (int i = 0; i < rows.length; i++) {
      int e = i % w13.length;
      for (int j = 0; j < rows[i].length; j++) {
        float[] xr = x[rows[i][j]];
        double[] h = new double[ff];
        for (int f = 0; f < ff; f++) {
          double g = 0;
          double u = 0;
          for (int c = 0; c < d; c++) {
            g += w13[e][f][c] * (double) xr[c];
            u += w13[e][ff + f][c] * (double) xr[c];
          }
          h[f] = g / (1 + Math.exp(-g)) * u;
        }
        for (int c = 0; c < d; c++) {
          double s = 0;
          for (int f = 0; f < ff; f++) {
            s += w2[e][c][f] * h[f];
          }
          out[rows[i][j]][c] += (float) (weights[i][j] * s);
        }
      }
    }
    return out;
  }

  /**
   * Items (item i is expert i mod experts in the emulation) with distinct rows, some past 64 rows.
   */
  private static int[][] randomRows(SplittableRandom r, int tokens, int items) {
    int[][] rows = new int[items][];
    for (int i = 0; i < items; i++) {
      List<Integer> all = new ArrayList<>();
      for (int t = 0; t < tokens; t++) {
        if (r.nextInt(3) > 0) {
          all.add(t);
        }
      }
      if (all.isEmpty()) {
        all.add(r.nextInt(tokens));
      }
      Collections.shuffle(all, new Random(r.nextLong()));
      rows[i] = all.stream().mapToInt(Integer::intValue).toArray();
    }
    return rows;
  }

  private static float[][] randomWeights(SplittableRandom r, int[][] rows) {
    float[][] w = new float[rows.length][];
    for (int i = 0; i < rows.length; i++) {
      w[i] = new float[rows[i].length];
      for (int j = 0; j < w[i].length; j++) {
        w[i][j] = (float) r.nextDouble();
      }
    }
    return w;
  }

  private static void fill(SplittableRandom r, float[][] m, double scale) {
    for (float[] row : m) {
      for (int i = 0; i < row.length; i++) {
        row[i] = (float) ((r.nextDouble() * 2 - 1) * scale * 1.7);
      }
    }
  }
}
