package io.arrakis.router.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.engine.testing.StopReference;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * vLLM's {@code stop_token_ids} and {@code min_tokens} in the serving scheduler, on every reference
 * model: a stop token ends the sequence at its first appearance and is returned; before min tokens
 * the stop tokens are never picked (greedy takes the best of the rest, worked out here from the
 * engine's logits) and a stop string is not looked for (one that ends after them stops it, as in
 * vLLM, even when it began before).
 */
class StopTokensTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static GenerationRequest.Sampling greedy(int n, GenerationRequest.Stops stops) {
    return GenerationRequest.Sampling.greedy(n).withStops(stops);
  }

  private static GenerationRequest.Stops stops(List<String> strings, Set<Integer> ids, int min) {
    return new GenerationRequest.Stops(strings, List.copyOf(ids), true, min);
  }

  private static String text(Recorder r) throws Exception {
    r.await();
    synchronized (r) {
      return r.text.toString();
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"})
  void aStopTokenEndsTheSequenceAtItsFirstAppearanceAndIsReturned(String name) throws Exception {
    try (InProcessServing serving =
        new InProcessServing(testKit, name, InProcessServing.settings(2))) {
      for (Prompt p : ReferenceModels.prompts(name)) {
        int[] g = p.greedy();
        // the fourth token and the last: whichever comes first ends it
        Set<Integer> stopIds =
            new HashSet<>(List.of(g[Math.min(3, g.length - 1)], g[g.length - 1]));
        int first = 0;
        while (!stopIds.contains(g[first])) {
          first++;
        }
        Recorder r =
            serving.generate(
                new GenerationRequest.Prompt.TokenIds(p.ids()),
                greedy(g.length + 4, stops(List.of(), stopIds, 0)));
        int[] want = Arrays.copyOf(g, first + 1);
        assertThat(r.await()).as("%s prompt %s", name, p).containsExactly(want);
        assertThat(r.finish().reason()).isEqualTo(FinishReason.STOP);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"})
  void beforeMinTokensNoStopTokenIsPicked(String name) throws Exception {
    int stopped = 0;
    try (InProcessServing serving =
            new InProcessServing(testKit, name, InProcessServing.settings(2));
        Engine engine = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      for (Prompt p : ReferenceModels.prompts(name)) {
        int[] g = p.greedy();
        // greedy's own first two tokens are the stops: held back for three tokens
        Set<Integer> stopIds = new HashSet<>(List.of(g[0], g[1]));
        int n = g.length;
        StopReference.Decoded want = StopReference.greedy(engine, p.ids(), n, stopIds, 3);
        Recorder r =
            serving.generate(
                new GenerationRequest.Prompt.TokenIds(p.ids()),
                greedy(n, stops(List.of(), stopIds, 3)));
        assertThat(r.await()).as("%s prompt %s", name, p).containsExactly(want.tokens());
        assertThat(Arrays.copyOf(want.tokens(), 3)).doesNotContain(g[0], g[1]);
        assertThat(r.finish().reason())
            .isEqualTo(want.stopped() ? FinishReason.STOP : FinishReason.LENGTH);
        stopped += want.stopped() ? 1 : 0;
      }
    }
    assertThat(stopped).as("prompts ended by a stop token after min tokens").isPositive();
  }

  @ParameterizedTest
  @ValueSource(strings = {"qwen3_moe", "deepseek_v3"})
  void beforeMinTokensAStopStringIsNotLookedFor(String name) throws Exception {
    int compared = 0;
    try (InProcessServing serving =
        new InProcessServing(testKit, name, InProcessServing.settings(2))) {
      for (Prompt p : ReferenceModels.prompts(name)) {
        GenerationRequest.Prompt prompt = new GenerationRequest.Prompt.TokenIds(p.ids());
        String opening = text(serving.generate(prompt, greedy(2, stops(List.of(), Set.of(), 0))));
        if (opening.isEmpty()) {
          continue; // two tokens that are not yet whole characters
        }
        int n = Math.min(12, p.greedy().length);
        Recorder plain = serving.generate(prompt, greedy(n, stops(List.of(opening), Set.of(), 0)));
        assertThat(text(plain)).isEmpty();
        assertThat(plain.finish().reason()).isEqualTo(FinishReason.STOP);
        int k = plain.await().length; // the stop string ended with the k-th token

        // held for k tokens, it goes past k: the stop string then ends only where it ends again
        Recorder held = serving.generate(prompt, greedy(n, stops(List.of(opening), Set.of(), k)));
        int[] tokens = held.await();
        assertThat(tokens.length).as("%s prompt %s", name, p).isGreaterThan(k);
        assertThat(tokens).containsExactly(Arrays.copyOf(p.greedy(), tokens.length));
        compared++;
      }
    }
    assertThat(compared).isPositive();
  }
}
