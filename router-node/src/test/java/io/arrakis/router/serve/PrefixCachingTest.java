package io.arrakis.router.serve;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Prefix caching in the serving scheduler (blocks of 4 tokens): a request whose tokens begin as an
 * earlier one's computes only the rest and gets the same tokens; the reuse shows in its usage and
 * the router's counters; it holds through preemption, and is off when switched off or when the
 * prompt's own log-probabilities are wanted.
 */
class PrefixCachingTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static GenerationRequest.Sampling greedy(int maxTokens, int promptLogprobs) {
    return GenerationRequest.Sampling.greedy(maxTokens)
        .withStops(GenerationRequest.Stops.ignoringEos())
        .withPromptLogprobs(promptLogprobs);
  }

  private static Recorder run(InProcessServing serving, int[] prompt, int maxTokens, int scored)
      throws Exception {
    Recorder r =
        serving.generate(new GenerationRequest.Prompt.TokenIds(prompt), greedy(maxTokens, scored));
    r.await();
    return r;
  }

  private static double counter(InProcessServing serving, String name) {
    return serving.registry.get(name).counter().count();
  }

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"})
  void aRepeatedPromptReusesItsCachedBlocksAndGetsTransformersTokens(String name) throws Exception {
    try (InProcessServing serving =
        new InProcessServing(testKit, name, InProcessServing.settings(2))) {
      List<Prompt> prompts = ReferenceModels.prompts(name);
      int reusedTotal = 0;
      int lookedUp = 0;
      for (int p = 0; p < prompts.size(); p++) {
        Prompt prompt = prompts.get(p);
        int[] ids = prompt.ids();
        Recorder first = run(serving, ids, prompt.greedy().length, -1);
        Recorder again = run(serving, ids, prompt.greedy().length, -1);
        assertThat(first.tokens).as("%s prompt %d", name, p).containsExactly(box(prompt.greedy()));
        assertThat(again.tokens)
            .as("%s prompt %d on cached blocks", name, p)
            .containsExactly(box(prompt.greedy()));
        int blocks = (ids.length - 1) / 4;
        assertThat(again.finish().cachedTokens()).as("%s prompt %d", name, p).isEqualTo(4 * blocks);
        reusedTotal += first.finish().cachedTokens() + again.finish().cachedTokens();
        lookedUp += 2 * ids.length;
      }
      // the first run of each prompt found nothing: no prompt begins as another does
      assertThat(counter(serving, "arrakis_serve_prefix_cache_hits")).isEqualTo(reusedTotal);
      assertThat(counter(serving, "arrakis_serve_prefix_cache_queries")).isEqualTo(lookedUp);
      assertThat(serving.state().usedBlocks()).isZero();
    }
  }

  @Test
  void sequencesSharingAPrefixInACacheThatPreemptsGetWhatTheyGetAlone() throws Exception {
    SplittableRandom random = new SplittableRandom(11);
    int[] shared = random.ints(40, 0, 512).toArray();
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      int[] tail = random.ints(1 + i * 3, 0, 512).toArray();
      prompts.add(IntStream.concat(IntStream.of(shared), IntStream.of(tail)).toArray());
    }
    List<int[]> alone = new ArrayList<>();
    try (InProcessServing serving =
        new InProcessServing(
            testKit, "qwen3_moe", InProcessServing.settings(1).withPrefixCaching(false))) {
      for (int[] p : prompts) {
        alone.add(run(serving, p, 16, -1).await());
      }
    }
    // 40 blocks of 4 tokens: the shared beginning (10 blocks) and two or three sequences' own
    ServeSettings small =
        InProcessServing.settings(2).withKvCache(40L * 4 * kvRowBytes("qwen3_moe"), 4);
    try (InProcessServing serving = new InProcessServing(testKit, "qwen3_moe", small)) {
      assertThat(serving.engine.blocks().totalBlocks()).isEqualTo(40);
      List<Recorder> answers = new ArrayList<>();
      for (int[] p : prompts) {
        answers.add(serving.generate(new GenerationRequest.Prompt.TokenIds(p), greedy(16, -1)));
      }
      for (int i = 0; i < prompts.size(); i++) {
        assertThat(answers.get(i).await()).as("prompt %d", i).containsExactly(alone.get(i));
      }
      assertThat(serving.state().preemptions()).as("preemptions").isPositive();
      assertThat(counter(serving, "arrakis_serve_prefix_cache_hits")).isPositive();
      assertThat(serving.state().usedBlocks()).isZero();
    }
  }

  @Test
  void switchedOffNothingIsReused() throws Exception {
    int[] ids = ReferenceModels.prompts("qwen3_moe").get(5).ids();
    try (InProcessServing serving =
        new InProcessServing(
            testKit, "qwen3_moe", InProcessServing.settings(2).withPrefixCaching(false))) {
      run(serving, ids, 4, -1);
      assertThat(run(serving, ids, 4, -1).finish().cachedTokens()).isZero();
      assertThat(counter(serving, "arrakis_serve_prefix_cache_queries")).isZero();
    }
  }

  @Test
  void aPromptWhoseLogprobsAreWantedIsComputedWholeEvenWhenCached() throws Exception {
    Prompt prompt = ReferenceModels.prompts("qwen3_moe").get(5);
    int[] ids = prompt.ids();
    try (InProcessServing serving =
        new InProcessServing(testKit, "qwen3_moe", InProcessServing.settings(2))) {
      run(serving, ids, 4, -1);
      Recorder scored = run(serving, ids, prompt.greedy().length, 1);
      assertThat(scored.finish().cachedTokens()).isZero();
      assertThat(scored.promptLogprobs).hasSize(ids.length - 1);
      assertThat(scored.tokens).containsExactly(box(prompt.greedy()));
      // and its blocks serve the next request
      assertThat(run(serving, ids, 1, -1).finish().cachedTokens()).isEqualTo(40);
    }
  }

  @Test
  void aSaltedPromptSharesItsBlocksOnlyWithRequestsOfTheSameSalt() throws Exception {
    List<Prompt> prompts = ReferenceModels.prompts("qwen3_moe");
    Prompt prompt = prompts.get(5);
    GenerationRequest.Prompt p = new GenerationRequest.Prompt.TokenIds(prompt.ids());
    try (InProcessServing serving =
        new InProcessServing(testKit, "qwen3_moe", InProcessServing.settings(2))) {
      assertThat(salted(serving, p, 4, -1, "tenant-a").finish().cachedTokens()).isZero();
      assertThat(salted(serving, p, 4, -1, null).finish().cachedTokens()).as("unsalted").isZero();
      assertThat(salted(serving, p, 4, -1, "tenant-b").finish().cachedTokens())
          .as("another salt")
          .isZero();
      Recorder again = salted(serving, p, 4, -1, "tenant-a");
      assertThat(again.finish().cachedTokens()).as("the same salt").isEqualTo(40);
      assertThat(again.tokens).containsExactly(box(Arrays.copyOf(prompt.greedy(), 4)));
      assertThat(salted(serving, p, 4, -1, null).finish().cachedTokens())
          .as("unsalted, after an unsalted one")
          .isEqualTo(40);

      // a scored prompt is computed whole, and its blocks still carry its salt
      GenerationRequest.Prompt q = new GenerationRequest.Prompt.TokenIds(prompts.get(4).ids());
      assertThat(salted(serving, q, 1, 1, "tenant-d").promptLogprobs).isNotEmpty();
      assertThat(salted(serving, q, 1, -1, null).finish().cachedTokens()).as("unsalted").isZero();
      assertThat(salted(serving, q, 1, -1, "tenant-d").finish().cachedTokens()).isPositive();
    }
  }

  private static Recorder salted(
      InProcessServing serving, GenerationRequest.Prompt p, int maxTokens, int scored, String salt)
      throws Exception {
    Recorder r = serving.generate(p, greedy(maxTokens, scored), salt);
    r.await();
    return r;
  }

  private static Integer[] box(int[] a) {
    return IntStream.of(a).boxed().toArray(Integer[]::new);
  }

  /** Bytes of one token's KV-cache rows over all layers. */
  private static long kvRowBytes(String name) throws Exception {
    try (InProcessServing probe =
        new InProcessServing(testKit, name, InProcessServing.settings(1))) {
      return (long) probe.engine.config().numLayers() * probe.engine.cache().rowWidth() * 4;
    }
  }
}
