package io.arrakis.model.placement.planner;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class HungarianTest {

  @Test
  void matchesBruteForceOnRandomMatrices() {
    Random random = new Random(11);
    for (int round = 0; round < 200; round++) {
      int n = 1 + random.nextInt(6);
      long[][] profit = new long[n][n];
      for (long[] row : profit) {
        for (int j = 0; j < n; j++) {
          row[j] = random.nextInt(10);
        }
      }
      int[] assign = Hungarian.maximise(profit);
      assertThat(assign)
          .as("a permutation")
          .containsExactlyInAnyOrder(IntStream.range(0, n).toArray());
      assertThat(total(profit, assign)).isEqualTo(best(profit, new int[n], new boolean[n], 0));
    }
  }

  private static long total(long[][] profit, int[] assign) {
    long t = 0;
    for (int i = 0; i < assign.length; i++) {
      t += profit[i][assign[i]];
    }
    return t;
  }

  private static long best(long[][] profit, int[] assign, boolean[] used, int row) {
    if (row == profit.length) {
      return total(profit, assign);
    }
    long best = Long.MIN_VALUE;
    for (int j = 0; j < profit.length; j++) {
      if (!used[j]) {
        used[j] = true;
        assign[row] = j;
        best = Math.max(best, best(profit, assign, used, row + 1));
        used[j] = false;
      }
    }
    return best;
  }
}
