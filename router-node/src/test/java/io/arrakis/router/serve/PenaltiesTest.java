package io.arrakis.router.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.testing.PenaltyReference;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Presence, frequency and repetition penalties in the serving scheduler: greedy decoding picks, at
 * every step, the largest of the model's logits penalized as vLLM defines it (worked out here from
 * the engine's logits and the definition, not through the sampler), on every reference model.
 */
class PenaltiesTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  private static final float PRESENCE = 0.8f;
  private static final float FREQUENCY = 0.6f;
  private static final float REPETITION = 1.4f;

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"})
  void greedyPicksTheLargestPenalizedLogitAtEveryStep(String name) throws Exception {
    List<Prompt> prompts = ReferenceModels.prompts(name);
    int changed = 0;
    try (InProcessServing serving =
            new InProcessServing(testKit, name, InProcessServing.settings(2));
        Engine engine = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      int vocab = engine.config().vocabSize();
      for (int p = 0; p < prompts.size(); p++) {
        int[] ids = prompts.get(p).ids();
        int n = prompts.get(p).greedy().length;
        List<Integer> want = new ArrayList<>();
        float[] logits = engine.step(List.of(SequenceChunk.of(p, ids))).logits(0);
        for (int t = 0; t < n; t++) {
          float[] penalized =
              PenaltyReference.penalize(logits, ids, want, PRESENCE, FREQUENCY, REPETITION);
          want.add(Sampler.argmax(penalized, 0, vocab));
          if (t + 1 < n) {
            logits = engine.step(List.of(SequenceChunk.of(p, want.get(t)))).logits(0);
          }
        }
        engine.release(p);

        int[] got =
            serving
                .generate(
                    new GenerationRequest.Prompt.TokenIds(ids),
                    GenerationRequest.Sampling.greedy(n)
                        .withStops(GenerationRequest.Stops.ignoringEos())
                        .withAdjustments(
                            new GenerationRequest.Adjustments(
                                PRESENCE, FREQUENCY, REPETITION, Map.of())))
                .await();
        assertThat(got)
            .as("%s prompt %d", name, p)
            .containsExactly(want.stream().mapToInt(Integer::intValue).toArray());
        changed += Arrays.equals(got, prompts.get(p).greedy()) ? 0 : 1;
      }
    }
    assertThat(changed).as("prompts whose tokens the penalties changed").isPositive();
  }
}
