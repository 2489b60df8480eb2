package io.arrakis.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.generate.Generation;
import io.arrakis.engine.generate.Generator;
import io.arrakis.engine.generate.TokenListener;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Generation: greedy as transformers, seeded sampling that repeats, stop conditions, streaming. */
class GeneratorTest {
  static Engine engine;
  static List<Prompt> prompts;

  @BeforeAll
  static void load() throws Exception {
    engine = Engine.load(ReferenceModels.dir("qwen3_moe"), EngineOptions.DEFAULT.withBlockSize(4));
    prompts = ReferenceModels.prompts("qwen3_moe");
  }

  @AfterAll
  static void close() throws Exception {
    engine.close();
  }

  private static SamplingParams greedy12() {
    return SamplingParams.greedy(12, Set.of(2));
  }

  @Test
  void greedyGenerationStreamsTransformersTokensAloneAndInABatch() {
    List<Integer> streamed = new ArrayList<>();
    Generation alone =
        new Generator(engine, 0)
            .generate(
                prompts.get(3).ids(),
                greedy12(),
                t -> {
                  streamed.add(t);
                  return Optional.empty();
                });
    assertThat(alone.tokens()).containsExactly(prompts.get(3).greedy());
    assertThat(streamed).containsExactlyElementsOf(toList(prompts.get(3).greedy()));
    assertThat(alone.finishReason()).isEqualTo(FinishReason.LENGTH);

    List<int[]> all = prompts.stream().map(Prompt::ids).toList();
    List<Generation> batch =
        new Generator(engine, 5)
            .generateAll(all, greedy12(), Collections.nCopies(all.size(), TokenListener.NONE));
    for (int p = 0; p < all.size(); p++) {
      assertThat(batch.get(p).tokens()).as("prompt %d", p).containsExactly(prompts.get(p).greedy());
    }
    assertThat(engine.blocks().usedBlocks()).isZero();
  }

  @Test
  void theSameSeedGivesTheSameTokensAloneOrInABatchAndAnotherSeedOthers() {
    SamplingParams sampled =
        greedy12()
            .withTemperature(1.5f)
            .withTopP(0.95f)
            .withTopK(50)
            .withSeed(1234)
            .withIgnoreEos(true);
    Generator g = new Generator(engine, 0);
    int[] first = g.generate(prompts.get(0).ids(), sampled, TokenListener.NONE).tokens();
    int[] again = g.generate(prompts.get(0).ids(), sampled, TokenListener.NONE).tokens();
    List<Generation> batched =
        g.generateAll(
            List.of(prompts.get(4).ids(), prompts.get(0).ids()),
            sampled,
            List.of(TokenListener.NONE, TokenListener.NONE));
    int[] other =
        g.generate(prompts.get(0).ids(), sampled.withSeed(99), TokenListener.NONE).tokens();

    assertThat(again).containsExactly(first);
    assertThat(batched.get(1).tokens()).containsExactly(first);
    assertThat(other).isNotEqualTo(first);
    assertThat(first).isNotEqualTo(prompts.get(0).greedy()); // it did sample
  }

  @Test
  void topKOfOneIsGreedy() {
    SamplingParams one = greedy12().withTemperature(0.7f).withTopK(1).withSeed(5);
    assertThat(
            new Generator(engine, 0)
                .generate(prompts.get(1).ids(), one, TokenListener.NONE)
                .tokens())
        .containsExactly(prompts.get(1).greedy());
  }

  @Test
  void stopTokensEosIgnoreEosAndCancellationEndASequence() {
    int[] want = prompts.get(2).greedy();
    Generator g = new Generator(engine, 0);
    // the third greedy token as a stop token: returned, then stop
    Generation stopped =
        g.generate(
            prompts.get(2).ids(), greedy12().withStopTokenIds(Set.of(want[2])), TokenListener.NONE);
    assertThat(stopped.tokens()).containsExactly(want[0], want[1], want[2]);
    assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
    // as eos it stops too, unless eos is ignored
    SamplingParams eos = SamplingParams.greedy(12, Set.of(want[2]));
    assertThat(g.generate(prompts.get(2).ids(), eos, TokenListener.NONE).tokens()).hasSize(3);
    assertThat(
            g.generate(prompts.get(2).ids(), eos.withIgnoreEos(true), TokenListener.NONE).tokens())
        .containsExactly(want);
    // a listener that says no after two tokens
    List<Integer> seen = new ArrayList<>();
    Generation cancelled =
        g.generate(
            prompts.get(2).ids(),
            greedy12(),
            t -> {
              seen.add(t);
              return seen.size() < 2 ? Optional.empty() : Optional.of(FinishReason.CANCELLED);
            });
    assertThat(cancelled.tokens()).hasSize(2);
    assertThat(cancelled.finishReason()).isEqualTo(FinishReason.CANCELLED);
    assertThat(engine.blocks().usedBlocks()).isZero();
  }

  private static List<Integer> toList(int[] a) {
    List<Integer> out = new ArrayList<>();
    for (int v : a) {
      out.add(v);
    }
    return out;
  }
}
