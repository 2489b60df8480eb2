package io.arrakis.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.engine.experts.LocalExperts;
import io.arrakis.engine.kv.CacheExhaustedException;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.model.checkpoint.Checkpoint;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.testing.Fixtures;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * A sequence's logits do not depend on how it is batched: alone, with others, prefilled in chunks,
 * over blocks of any size, or in micro-batches advanced in turn (within float32 rounding).
 */
class BatchStepTest {
  static final List<String> MODELS = ReferenceModels.NAMES;
  // float32 rounding of sums taken in another order (BLAS picks kernels by batch size)
  private static final float ROUNDING = 2e-5f;

  private static float[] alone(Engine engine, int[] ids) {
    float[] l = engine.step(List.of(new SequenceChunk(-1, ids, true))).logits(0);
    engine.release(-1);
    return l;
  }

  private static float[] lastRow(float[] all, int vocab) {
    return Arrays.copyOfRange(all, all.length - vocab, all.length);
  }

  @ParameterizedTest
  @FieldSource("MODELS")
  void aBatchOfAllPromptsGivesEachPromptsLogitsAlone(String name) throws Exception {
    try (Engine engine =
        Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(8))) {
      List<Prompt> prompts = ReferenceModels.prompts(name);
      List<SequenceChunk> batch = new ArrayList<>();
      for (int p = 0; p < prompts.size(); p++) {
        batch.add(new SequenceChunk(p, prompts.get(p).ids(), true));
      }
      StepResult together = engine.step(batch);
      for (int p = 0; p < prompts.size(); p++) {
        engine.release(p);
        assertThat(Fixtures.maxAbsDiff(together.logits(p), alone(engine, prompts.get(p).ids())))
            .as("%s prompt %d", name, p)
            .isLessThanOrEqualTo(ROUNDING);
      }
      assertThat(engine.blocks().usedBlocks()).isZero();
    }
  }

  @ParameterizedTest
  @FieldSource("MODELS")
  void chunkedPrefillOverBlocksOfAnySizeGivesTheSameLogits(String name) throws Exception {
    int[] ids = ReferenceModels.prompts(name).get(5).ids(); // 42 tokens
    float[] whole;
    int vocab;
    try (Engine engine = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      vocab = engine.config().vocabSize();
      whole = alone(engine, ids);
    }
    for (int blockSize : new int[] {1, 3, 16}) {
      try (Engine engine =
          Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(blockSize))) {
        for (int chunk : new int[] {1, 5, 17}) {
          float[] last = null;
          for (int at = 0; at < ids.length; at += chunk) {
            int[] part = Arrays.copyOfRange(ids, at, Math.min(ids.length, at + chunk));
            last = engine.step(List.of(SequenceChunk.of(7, part))).logits(0);
          }
          assertThat(engine.blocks().blockTable(7))
              .hasSize((ids.length + blockSize - 1) / blockSize);
          engine.release(7);
          assertThat(Fixtures.maxAbsDiff(last, lastRow(whole, vocab)))
              .as("%s block size %d chunk %d", name, blockSize, chunk)
              .isLessThanOrEqualTo(ROUNDING);
        }
      }
    }
  }

  @Test
  void decodingSequencesOfDifferentLengthsTogetherGivesTheirLogitsAlone() throws Exception {
    try (Engine engine =
        Engine.load(ReferenceModels.dir("deepseek_v3"), EngineOptions.DEFAULT.withBlockSize(4))) {
      List<Prompt> prompts = ReferenceModels.prompts("deepseek_v3");
      int vocab = engine.config().vocabSize();
      // prefill 0 and 2 together, 5 alone, then decode all three in one step with a mixed prefill
      // chunk of 3
      engine.step(
          List.of(
              SequenceChunk.of(0, prompts.get(0).ids()),
              SequenceChunk.of(2, prompts.get(2).ids())));
      engine.step(List.of(SequenceChunk.of(5, prompts.get(5).ids())));
      StepResult r =
          engine.step(
              List.of(
                  SequenceChunk.of(0, 7),
                  SequenceChunk.of(5, 9),
                  SequenceChunk.of(2, 11),
                  SequenceChunk.of(3, Arrays.copyOf(prompts.get(3).ids(), 3))));
      int[][] want = {
        concat(prompts.get(0).ids(), 7),
        concat(prompts.get(5).ids(), 9),
        concat(prompts.get(2).ids(), 11),
        Arrays.copyOf(prompts.get(3).ids(), 3)
      };
      for (int c = 0; c < want.length; c++) {
        assertThat(Fixtures.maxAbsDiff(r.logits(c), lastRow(alone(engine, want[c]), vocab)))
            .as("chunk %d", c)
            .isLessThanOrEqualTo(ROUNDING);
      }
    }
  }

  @Test
  void anExhaustedCacheRefusesTheStepAndLeavesOtherSequencesIntact() throws Exception {
    String name = "qwen3_moe";
    List<Prompt> prompts = ReferenceModels.prompts(name);
    int[] a = prompts.get(5).ids(); // 42 tokens
    int[] b = prompts.get(2).ids(); // 23 tokens
    try (Engine fresh = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      int width = fresh.model().cacheRowWidth();
      long twelveBlocks = 12L * 4 * width * Float.BYTES * fresh.config().numLayers();
      try (Engine engine =
          Engine.load(ReferenceModels.dir(name), new EngineOptions(twelveBlocks, 4))) {
        assertThat(engine.blocks().totalBlocks()).isEqualTo(12);
        engine.step(List.of(SequenceChunk.of(1, a))); // 11 blocks
        assertThat(engine.blocks().freeBlocks()).isEqualTo(1);

        assertThatThrownBy(() -> engine.step(List.of(SequenceChunk.of(2, b))))
            .isInstanceOf(CacheExhaustedException.class)
            .hasMessageContaining("needs 6 more blocks, 1 of 12 are free");
        // a batch with a sequence that fits and one that does not is refused whole
        assertThatThrownBy(
                () -> engine.step(List.of(SequenceChunk.of(1, 5), SequenceChunk.of(2, b))))
            .isInstanceOf(CacheExhaustedException.class);
        assertThat(engine.blocks().freeBlocks()).isEqualTo(1);
        assertThat(engine.blocks().contains(2)).isFalse();
        assertThat(engine.blocks().length(1)).isEqualTo(42);

        float[] next = engine.step(List.of(SequenceChunk.of(1, 5))).logits(0);
        assertThat(
                Fixtures.maxAbsDiff(
                    next, lastRow(alone(fresh, concat(a, 5)), fresh.config().vocabSize())))
            .isLessThanOrEqualTo(ROUNDING);
        engine.release(1);
        assertThat(engine.blocks().freeBlocks()).isEqualTo(12);
        engine.step(List.of(SequenceChunk.of(2, b)));
      }
    }
  }

  @Test
  void aFailedRoutedExpertsCallFailsTheStepAndTheSequencesCanBeReleased() throws Exception {
    String name = "deepseek_v3";
    try (Checkpoint ck = Checkpoint.open(ReferenceModels.dir(name))) {
      Engine engine =
          Engine.create(
              Engine.loadDecoder(ReferenceModels.dir(name), ck),
              (layer, x, routing, out) ->
                  CompletableFuture.failedFuture(new IllegalStateException("expert node gone")),
              EngineOptions.DEFAULT);
      assertThatThrownBy(() -> engine.step(List.of(SequenceChunk.of(1, 5, 6, 7))))
          .hasMessageContaining("expert node gone");
      engine.release(1);
      assertThat(engine.blocks().usedBlocks()).isZero();
    }
  }

  /**
   * An Error (a method this JVM lacks, an out-of-memory) fails the step as well: its sequences
   * leave it, so releasing them works and the Error is what the caller sees.
   */
  @Test
  void anErrorInAStepFailsItAndTheSequencesCanBeReleased() throws Exception {
    String name = "mixtral";
    try (Checkpoint ck = Checkpoint.open(ReferenceModels.dir(name))) {
      Engine engine =
          Engine.create(
              Engine.loadDecoder(ReferenceModels.dir(name), ck),
              (layer, x, routing, out) -> {
                throw new NoSuchMethodError("FloatVector.fromByteBuffer");
              },
              EngineOptions.DEFAULT);
      assertThatThrownBy(() -> engine.step(List.of(SequenceChunk.of(1, 5, 6, 7))))
          .isInstanceOf(NoSuchMethodError.class);
      engine.release(1);
      assertThat(engine.blocks().usedBlocks()).isZero();
    }
  }

  @Test
  void twoMicroBatchesInFlightGiveTheLogitsOfOneAtATime() throws Exception {
    String name = "qwen2_moe";
    List<Prompt> prompts = ReferenceModels.prompts(name);
    // the routed experts run only when the test says so: each pass must hand off at every MoE layer
    // and wait there while the other one advances
    ArrayDeque<Runnable> expertQueue = new ArrayDeque<>();
    try (Engine sequential = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT);
        MoeModel moe = MoeModel.open(ReferenceModels.dir(name));
        Checkpoint ck = Checkpoint.open(ReferenceModels.dir(name))) {
      Engine engine =
          Engine.create(
              Engine.loadDecoder(ReferenceModels.dir(name), ck),
              LocalExperts.load(moe).on(expertQueue::add),
              EngineOptions.DEFAULT);
      ForwardPass first =
          engine.begin(
              List.of(
                  SequenceChunk.of(1, prompts.get(1).ids()),
                  SequenceChunk.of(3, prompts.get(3).ids())));
      ForwardPass second = engine.begin(List.of(SequenceChunk.of(4, prompts.get(4).ids())));
      int[] handOffs = new int[2];
      Optional<CompletionStage<Void>> a = first.advance();
      Optional<CompletionStage<Void>> b = second.advance();
      while (a.isPresent() || b.isPresent()) {
        assertThat(a.map(s -> s.toCompletableFuture().isDone()).orElse(true)).isFalse();
        handOffs[0] += a.isPresent() ? 1 : 0;
        handOffs[1] += b.isPresent() ? 1 : 0;
        while (!expertQueue.isEmpty()) {
          expertQueue.poll().run();
        }
        a = a.isPresent() ? first.advance() : a;
        b = b.isPresent() ? second.advance() : b;
      }
      // every layer of qwen2_moe is MoE
      assertThat(handOffs)
          .containsExactly(engine.config().numLayers(), engine.config().numLayers());
      int vocab = engine.config().vocabSize();
      assertThat(
              Fixtures.maxAbsDiff(
                  first.result().logits(0),
                  lastRow(alone(sequential, prompts.get(1).ids()), vocab)))
          .isLessThanOrEqualTo(ROUNDING);
      assertThat(
              Fixtures.maxAbsDiff(
                  first.result().logits(1),
                  lastRow(alone(sequential, prompts.get(3).ids()), vocab)))
          .isLessThanOrEqualTo(ROUNDING);
      assertThat(
              Fixtures.maxAbsDiff(
                  second.result().logits(0),
                  lastRow(alone(sequential, prompts.get(4).ids()), vocab)))
          .isLessThanOrEqualTo(ROUNDING);
    }
  }

  @Test
  void aSequenceCannotBeInTwoPassesAtOnceUntilTheFirstIsCancelled() throws Exception {
    try (Engine engine = Engine.load(ReferenceModels.dir("mixtral"), EngineOptions.DEFAULT)) {
      ForwardPass pass = engine.begin(List.of(SequenceChunk.of(1, 3, 4)));
      assertThatThrownBy(() -> engine.begin(List.of(SequenceChunk.of(1, 5))))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("already in a step in flight");
      assertThatThrownBy(() -> engine.release(1)).isInstanceOf(IllegalStateException.class);
      pass.cancel();
      engine.release(1);
      assertThat(engine.blocks().usedBlocks()).isZero();
      assertThatThrownBy(pass::advance).isInstanceOf(IllegalStateException.class);
      assertThatThrownBy(() -> engine.begin(List.of(SequenceChunk.of(2, 512))))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("token id 512 is outside the vocabulary");
    }
  }

  private static int[] concat(int[] a, int b) {
    int[] out = Arrays.copyOf(a, a.length + 1);
    out[a.length] = b;
    return out;
  }
}
