package io.arrakis.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.model.testing.Fixtures;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Prefix caching on the four reference checkpoints: a sequence that starts on another's cached
 * blocks computes only the rest of its prompt and still gives transformers' logits and tokens;
 * sequences sharing blocks never disturb each other.
 */
class PrefixCacheTest {
  static final List<String> MODELS = ReferenceModels.NAMES;
  private static final float LOGIT_TOLERANCE = 1e-4f;
  private static final int BLOCK = 4;

  @ParameterizedTest
  @FieldSource("MODELS")
  void aPromptStartedOnCachedBlocksGivesTransformersLogitsAndGreedyTokens(String name)
      throws Exception {
    try (Engine engine =
        Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(BLOCK))) {
      List<Prompt> prompts = ReferenceModels.prompts(name);
      int vocab = engine.config().vocabSize();
      for (int p = 0; p < prompts.size(); p++) {
        int[] ids = prompts.get(p).ids();
        long first = 2L * p;
        long again = first + 1;
        engine.step(List.of(SequenceChunk.of(first, ids)));
        engine.release(first); // its blocks are free now, and still cached

        int reused = engine.blocks().reusePrefix(again, ids, ids.length - 1);
        assertThat(reused)
            .as("%s prompt %d reused", name, p)
            .isEqualTo((ids.length - 1) / BLOCK * BLOCK);
        float[] logits =
            engine
                .step(
                    List.of(
                        new SequenceChunk(
                            again, Arrays.copyOfRange(ids, reused, ids.length), true)))
                .logits(0);
        float[] want = ReferenceModels.expected(name, "logits_" + p);
        float err =
            Fixtures.maxAbsDiff(logits, Arrays.copyOfRange(want, reused * vocab, want.length));
        assertThat(err)
            .as("%s prompt %d logits after %d cached tokens", name, p, reused)
            .isLessThanOrEqualTo(LOGIT_TOLERANCE);

        int[] greedy = prompts.get(p).greedy();
        float[] wantGen = ReferenceModels.expected(name, "gen_logits_" + p);
        float[] next = Arrays.copyOfRange(logits, logits.length - vocab, logits.length);
        int[] got = new int[greedy.length];
        for (int t = 0; t < got.length; t++) {
          assertThat(
                  Fixtures.maxAbsDiff(
                      next, Arrays.copyOfRange(wantGen, t * vocab, (t + 1) * vocab)))
              .as("%s prompt %d gen logits %d", name, p, t)
              .isLessThanOrEqualTo(LOGIT_TOLERANCE);
          got[t] = Sampler.argmax(next, 0, vocab);
          if (t + 1 < got.length) {
            next = engine.step(List.of(SequenceChunk.of(again, got[t]))).logits(0);
          }
        }
        engine.release(again);
        assertThat(got).as("%s prompt %d greedy tokens", name, p).containsExactly(greedy);
      }
    }
  }

  @ParameterizedTest
  @FieldSource("MODELS")
  void blocksOfAStepThatDidNotRunAreNeverReused(String name) throws Exception {
    try (Engine engine =
        Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(BLOCK))) {
      int[] ids = ReferenceModels.prompts(name).get(5).ids();
      engine.begin(List.of(SequenceChunk.of(1, ids))).cancel(); // its rows were never written
      engine.release(1);
      assertThat(engine.blocks().reusePrefix(2, ids, ids.length - 1)).isZero();
      assertThat(engine.blocks().cachedBlocks()).isZero();
    }
  }

  /**
   * Prompt 2 behind the first 16 tokens of prompt 5, computed whole in a fresh engine and, in
   * another, on the blocks prompt 5 left cached while prompt 5 goes on decoding beside it.
   */
  @ParameterizedTest
  @FieldSource("MODELS")
  void sequencesSharingBlocksComputeWhatTheyWouldAlone(String name) throws Exception {
    List<Prompt> prompts = ReferenceModels.prompts(name);
    int[] five = prompts.get(5).ids();
    int[] mixed =
        IntStream.concat(Arrays.stream(five, 0, 4 * BLOCK), Arrays.stream(prompts.get(2).ids()))
            .toArray();
    float[] alone;
    try (Engine fresh =
        Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(BLOCK))) {
      alone = fresh.step(List.of(new SequenceChunk(1, mixed, true))).logits(0);
    }
    try (Engine engine =
        Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(BLOCK))) {
      int vocab = engine.config().vocabSize();
      float[] logits = engine.step(List.of(SequenceChunk.of(5, five))).logits(0);
      assertThat(engine.blocks().reusePrefix(7, mixed, mixed.length - 1)).isEqualTo(4 * BLOCK);
      assertThat(engine.blocks().usedBlocks())
          .as("shared, not copied")
          .isEqualTo((five.length + BLOCK - 1) / BLOCK);

      int[] greedy = prompts.get(5).greedy();
      int token = Sampler.argmax(logits, 0, vocab);
      StepResult both =
          engine.step(
              List.of(
                  SequenceChunk.of(5, token),
                  new SequenceChunk(7, Arrays.copyOfRange(mixed, 4 * BLOCK, mixed.length), true)));
      float[] rest = both.logits(1);
      assertThat(
              Fixtures.maxAbsDiff(rest, Arrays.copyOfRange(alone, 4 * BLOCK * vocab, alone.length)))
          .as("%s: the mixed prompt on shared blocks against it alone", name)
          .isLessThanOrEqualTo(LOGIT_TOLERANCE);

      int[] got = new int[greedy.length];
      got[0] = token;
      float[] next = both.logits(0);
      for (int t = 1; t < got.length; t++) {
        got[t] = Sampler.argmax(next, 0, vocab);
        next = engine.step(List.of(SequenceChunk.of(5, got[t]))).logits(0);
      }
      assertThat(got)
          .as("%s: prompt 5 decoding beside a sequence on its blocks", name)
          .containsExactly(greedy);
      engine.release(5);
      engine.release(7);
      assertThat(engine.blocks().usedBlocks()).isZero();
    }
  }
}
