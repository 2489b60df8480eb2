package io.arrakis.engine.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Blocks as sequences take, share and give them back; prefix caching by exact content. */
class BlockManagerTest {
  private static final int B = 4;

  private static int[] range(int from, int to) {
    return IntStream.range(from, to).toArray();
  }

  private static int[] concat(int[] a, int[] b) {
    return IntStream.concat(IntStream.of(a), IntStream.of(b)).toArray();
  }

  /** Runs {@code tokens} as one step of a new sequence and commits it, as a finished step does. */
  private static void compute(BlockManager m, long seq, int[] tokens) {
    m.append(new long[] {seq}, new int[][] {tokens});
    m.commit(seq);
  }

  @Test
  void aStepTakesTheBlocksOfAllItsSequencesOrNone() {
    BlockManager m = new BlockManager(3, B);
    int[] starts = m.append(new long[] {1, 2}, new int[][] {range(0, 5), range(0, 3)});
    assertThat(starts).containsExactly(0, 0);
    assertThat(m.usedBlocks()).isEqualTo(3);
    assertThatThrownBy(() -> m.append(new long[] {2, 3}, new int[][] {range(0, 2), range(0, 1)}))
        .isInstanceOf(CacheExhaustedException.class);
    assertThat(m.length(2)).isEqualTo(3);
    assertThat(m.contains(3)).isFalse();
    assertThat(m.append(new long[] {2}, new int[][] {range(3, 4)})).containsExactly(3);
    assertThat(m.row(2, 3) / B).isEqualTo(m.blockTable(2)[0]);
  }

  @Test
  void aLaterSequenceReusesTheCommittedFullBlocksItsTokensBeginWith() {
    BlockManager m = new BlockManager(8, B);
    int[] prompt = range(100, 110); // 2 full blocks and a part
    compute(m, 1, prompt);
    assertThat(m.cachedBlocks()).isEqualTo(2);
    int[] first = m.blockTable(1);

    int[] longer = concat(prompt, range(7, 20));
    assertThat(m.reusePrefix(2, longer, longer.length - 1)).isEqualTo(8);
    assertThat(m.length(2)).isEqualTo(8);
    assertThat(m.blockTable(2)).containsExactly(first[0], first[1]);
    // shared, not copied: both hold them, the third block stays the first sequence's own
    assertThat(m.usedBlocks()).isEqualTo(3);
    assertThat(m.append(new long[] {2}, new int[][] {range(108, 112)})).containsExactly(8);
    assertThat(m.blockTable(2)[2]).isNotEqualTo(first[2]);
  }

  @Test
  void blocksAreSharedOnlyBetweenSequencesOfTheSameSalt() {
    BlockManager m = new BlockManager(16, B);
    int[] prompt = range(100, 109); // 2 full blocks and a part
    // a salted sequence that found nothing to reuse still names its blocks with its salt
    assertThat(m.reusePrefix(1, prompt, 8, "tenant-a")).isZero();
    compute(m, 1, prompt);
    assertThat(m.reusePrefix(2, prompt, 8)).as("unsalted").isZero();
    m.free(2);
    assertThat(m.reusePrefix(3, prompt, 8, "tenant-b")).as("another salt").isZero();
    m.free(3);
    assertThat(m.reusePrefix(4, prompt, 8, "tenant-a")).as("the same salt").isEqualTo(8);
    assertThat(m.blockTable(4)).containsExactly(m.blockTable(1)[0], m.blockTable(1)[1]);

    compute(m, 5, prompt); // unsalted
    assertThat(m.reusePrefix(6, prompt, 8)).as("unsalted, after an unsalted one").isEqualTo(8);
    assertThat(m.blockTable(6)).containsExactly(m.blockTable(5)[0], m.blockTable(5)[1]);
    assertThat(m.reusePrefix(7, prompt, 8, "tenant-c")).as("salted, after unsalted").isZero();
  }

  @Test
  void reuseStopsAtTheLimitAndAtTheFirstBlockThatDiffers() {
    BlockManager m = new BlockManager(8, B);
    int[] prompt = range(0, 12);
    compute(m, 1, prompt);
    // the same tokens, but the last must be computed for its logits: 2 blocks, not 3
    assertThat(m.reusePrefix(2, prompt, prompt.length - 1)).isEqualTo(8);
    int[] differsInSecond = prompt.clone();
    differsInSecond[6] = 99;
    assertThat(m.reusePrefix(3, differsInSecond, 12)).isEqualTo(4);
    int[] differsInFirst = prompt.clone();
    differsInFirst[0] = 99;
    assertThat(m.reusePrefix(4, differsInFirst, 12)).isZero();
    assertThat(m.contains(4)).isFalse();
    assertThat(m.reusePrefix(5, range(0, 3), 3)).isZero(); // shorter than a block
  }

  @Test
  void aBlockIsReusedOnlyAfterTheSameBeginning() {
    BlockManager m = new BlockManager(8, B);
    compute(m, 1, concat(range(0, 4), range(50, 54)));
    // the second block's tokens after another first block: another content
    assertThat(m.reusePrefix(2, concat(range(10, 14), range(50, 54)), 8)).isZero();
  }

  @Test
  void nothingIsReusedBeforeTheStepThatWroteItIsCommitted() {
    BlockManager m = new BlockManager(8, B);
    m.append(new long[] {1}, new int[][] {range(0, 8)});
    assertThat(m.reusePrefix(2, range(0, 9), 8)).isZero();
    m.commit(1);
    assertThat(m.reusePrefix(3, range(0, 9), 8)).isEqualTo(8);
  }

  @Test
  void aSequenceThatHasBlocksReusesNothing() {
    BlockManager m = new BlockManager(8, B);
    compute(m, 1, range(0, 8));
    assertThat(m.reusePrefix(1, range(0, 8), 8)).isZero();
    assertThat(m.length(1)).isEqualTo(8);
  }

  @Test
  void freedBlocksStayCachedUntilTheirMemoryIsNeededLastBlocksFirst() {
    BlockManager m = new BlockManager(4, B);
    compute(m, 1, range(0, 12)); // blocks of tokens 0-3, 4-7, 8-11
    m.free(1);
    assertThat(m.freeBlocks()).isEqualTo(4);
    assertThat(m.cachedBlocks()).isEqualTo(3);
    // a new sequence needs two blocks: the never-used one, then the cached one freed first (the
    // last block of sequence 1), so its first two blocks survive
    m.append(new long[] {2}, new int[][] {range(500, 508)});
    assertThat(m.cachedBlocks()).isEqualTo(2);
    assertThat(m.reusePrefix(3, range(0, 13), 12)).isEqualTo(8);
    assertThat(m.freeBlocks()).isZero();
  }

  @Test
  void aSharedBlockIsFreeOnlyWhenNoSequenceHoldsIt() {
    BlockManager m = new BlockManager(4, B);
    compute(m, 1, range(0, 4));
    assertThat(m.reusePrefix(2, range(0, 5), 4)).isEqualTo(4);
    assertThat(m.usedBlocks()).isEqualTo(1);
    m.free(1);
    assertThat(m.usedBlocks()).isEqualTo(1);
    m.append(new long[] {3}, new int[][] {range(40, 52)}); // takes the three other blocks
    assertThatThrownBy(() -> m.append(new long[] {4}, new int[][] {range(0, 1)}))
        .isInstanceOf(CacheExhaustedException.class);
    m.free(2);
    assertThat(m.freeBlocks()).isEqualTo(1);
    // reusing a free cached block holds it again: it is no longer free
    assertThat(m.reusePrefix(5, range(0, 5), 4)).isEqualTo(4);
    assertThat(m.freeBlocks()).isZero();
  }

  @Test
  void contentComputedTwiceIsCachedOnceAndLaterBlocksChainOnIt() {
    BlockManager m = new BlockManager(16, B);
    // two sequences compute the same first 8 tokens side by side (neither could reuse the other's)
    m.append(new long[] {1, 2}, new int[][] {range(0, 8), range(0, 8)});
    m.commit(1);
    m.commit(2);
    assertThat(m.cachedBlocks()).isEqualTo(2);
    compute(m, 2, range(8, 12)); // the second goes on alone
    assertThat(m.cachedBlocks()).isEqualTo(3);
    int[] table = m.blockTable(2);
    assertThat(m.reusePrefix(3, range(0, 13), 12)).isEqualTo(12);
    int[] reused = m.blockTable(3);
    assertThat(reused[0]).isEqualTo(m.blockTable(1)[0]);
    assertThat(reused[2]).isEqualTo(table[2]);
  }

  @Test
  void freeingAnUnknownSequenceIsNothingAndEveryBlockComesBack() {
    BlockManager m = new BlockManager(6, B);
    m.free(42);
    compute(m, 1, range(0, 10));
    assertThat(m.reusePrefix(2, range(0, 10), 9)).isEqualTo(8);
    m.append(new long[] {2}, new int[][] {range(8, 10)});
    m.free(1);
    m.free(2);
    assertThat(m.freeBlocks()).isEqualTo(6);
    assertThat(m.usedBlocks()).isZero();
  }
}
