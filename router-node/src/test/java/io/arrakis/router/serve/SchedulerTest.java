package io.arrakis.router.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.engine.experts.RoutedExperts;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The serving scheduler over a real engine (reference models, routed experts on another thread so
 * that every MoE layer is a hand-off): continuous batching gives every sequence what it gets alone,
 * with one micro-batch or two, chunked prefill and preemption; cancellation and deadlines free what
 * a sequence held.
 */
class SchedulerTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  static GenerationRequest.Sampling greedy(int maxTokens) {
    return GenerationRequest.Sampling.greedy(maxTokens)
        .withStops(GenerationRequest.Stops.ignoringEos());
  }

  @ParameterizedTest
  @ValueSource(strings = {"mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3"})
  void everyReferencePromptAtOnceDecodesTransformersGreedyTokens(String name) throws Exception {
    try (InProcessServing serving =
        new InProcessServing(testKit, name, InProcessServing.settings(2))) {
      List<Prompt> prompts = ReferenceModels.prompts(name);
      List<Recorder> answers = new ArrayList<>();
      for (Prompt p : prompts) {
        answers.add(
            serving.generate(
                new GenerationRequest.Prompt.TokenIds(p.ids()), greedy(p.greedy().length)));
      }
      for (int i = 0; i < prompts.size(); i++) {
        assertThat(answers.get(i).await())
            .as("%s prompt %d", name, i)
            .containsExactly(prompts.get(i).greedy());
        assertThat(answers.get(i).finish().reason()).isEqualTo(FinishReason.LENGTH);
      }
      assertThat(serving.state().usedBlocks()).isZero();
    }
  }

  /** Prompts of 1 to 150 tokens (several steps of prefill at 64 tokens a step), 12 tokens each. */
  static List<int[]> mixedPrompts(int n, int vocab) {
    SplittableRandom random = new SplittableRandom(64);
    List<int[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] p = new int[1 + (i * 37) % 150];
      for (int j = 0; j < p.length; j++) {
        p[j] = random.nextInt(vocab);
      }
      out.add(p);
    }
    return out;
  }

  static List<int[]> alone(String name, List<int[]> prompts, int maxTokens) throws Exception {
    List<int[]> out = new ArrayList<>();
    try (InProcessServing serving =
        new InProcessServing(testKit, name, InProcessServing.settings(1))) {
      for (int[] p : prompts) {
        out.add(
            serving.generate(new GenerationRequest.Prompt.TokenIds(p), greedy(maxTokens)).await());
      }
    }
    return out;
  }

  static List<int[]> together(InProcessServing serving, List<int[]> prompts, int maxTokens)
      throws Exception {
    List<Recorder> answers = new ArrayList<>();
    for (int[] p : prompts) {
      answers.add(serving.generate(new GenerationRequest.Prompt.TokenIds(p), greedy(maxTokens)));
    }
    List<int[]> out = new ArrayList<>();
    for (Recorder r : answers) {
      out.add(r.await());
    }
    return out;
  }

  @Test
  void sixtyFourSequencesTogetherGetWhatTheyGetAloneWithOneOrTwoMicroBatches() throws Exception {
    List<int[]> prompts = mixedPrompts(64, 512);
    List<int[]> alone = alone("qwen3_moe", prompts, 12);
    for (int microBatches : new int[] {1, 2}) {
      try (InProcessServing serving =
          new InProcessServing(testKit, "qwen3_moe", InProcessServing.settings(microBatches))) {
        List<int[]> got = together(serving, prompts, 12);
        for (int i = 0; i < prompts.size(); i++) {
          assertThat(got.get(i))
              .as("%d micro-batches, prompt %d (%d tokens)", microBatches, i, prompts.get(i).length)
              .containsExactly(alone.get(i));
        }
        assertThat(serving.state())
            .satisfies(
                s -> {
                  assertThat(s.usedBlocks()).isZero();
                  assertThat(s.running()).isZero();
                });
      }
    }
  }

  @Test
  void aCacheTooSmallForEveryonePreemptsTheNewestAndRecomputesItIntact() throws Exception {
    List<int[]> prompts = mixedPrompts(16, 512);
    List<int[]> alone = alone("mixtral", prompts, 24);
    // 48 blocks of 4 tokens: about two of these sequences at a time
    ServeSettings small = InProcessServing.settings(2).withKvCache(48L * 4 * 64 * 2 * 4, 4);
    try (InProcessServing serving = new InProcessServing(testKit, "mixtral", small)) {
      assertThat(serving.engine.blocks().totalBlocks()).isEqualTo(48);
      List<int[]> got = together(serving, prompts, 24);
      for (int i = 0; i < prompts.size(); i++) {
        assertThat(got.get(i)).as("prompt %d", i).containsExactly(alone.get(i));
      }
      Scheduler.State s = serving.state();
      assertThat(s.preemptions()).as("preemptions").isPositive();
      assertThat(s.usedBlocks()).isZero();
    }
  }

  /**
   * Prompt log-probabilities (an echo's) come once per request, one per prompt token after the
   * first, equal to those of the prompt run alone: through chunked prefill, scored prompts
   * competing for the one scored chunk a step may hold, and preemptions that recompute them (24
   * tokens each, as in the test above: long enough to overlap, so the small cache runs out).
   */
  @Test
  void promptLogprobsAreScoredOnceThroughChunksAndPreemptions() throws Exception {
    List<int[]> prompts = mixedPrompts(16, 512);
    GenerationRequest.Sampling scored =
        GenerationRequest.Sampling.greedy(24)
            .withStops(GenerationRequest.Stops.ignoringEos())
            .withPromptLogprobs(2);
    List<List<TokenLogprobs>> alone = new ArrayList<>();
    try (InProcessServing serving =
        new InProcessServing(testKit, "mixtral", InProcessServing.settings(1))) {
      for (int[] p : prompts) {
        Recorder r = serving.generate(new GenerationRequest.Prompt.TokenIds(p), scored);
        r.await();
        alone.add(r.promptLogprobs);
      }
    }
    ServeSettings small = InProcessServing.settings(2).withKvCache(48L * 4 * 64 * 2 * 4, 4);
    try (InProcessServing serving = new InProcessServing(testKit, "mixtral", small)) {
      List<Recorder> answers = new ArrayList<>();
      for (int[] p : prompts) {
        answers.add(serving.generate(new GenerationRequest.Prompt.TokenIds(p), scored));
      }
      for (int i = 0; i < prompts.size(); i++) {
        answers.get(i).await();
        int[] p = prompts.get(i);
        List<TokenLogprobs> got = answers.get(i).promptLogprobs;
        assertThat(got).as("prompt %d (%d tokens)", i, p.length).hasSize(p.length - 1);
        for (int k = 0; k < got.size(); k++) {
          TokenLogprobs want = alone.get(i).get(k);
          assertThat(got.get(k).token()).isEqualTo(p[k + 1]);
          assertThat(got.get(k).logprob())
              .as("prompt %d token %d", i, k + 1)
              .isCloseTo(want.logprob(), within(1e-4f));
          assertThat(got.get(k).topLogprobs()[0]).isCloseTo(want.topLogprobs()[0], within(1e-4f));
        }
      }
      Scheduler.State s = serving.state();
      assertThat(s.preemptions()).as("preemptions").isPositive();
      assertThat(s.usedBlocks()).isZero();
    }
  }

  @Test
  void aSeededSampledStreamRepeatsWhateverRunsBesideIt() throws Exception {
    GenerationRequest.Sampling sampled =
        new GenerationRequest.Sampling(
            16,
            1.2f,
            0.9f,
            40,
            OptionalLong.of(7),
            GenerationRequest.Stops.ignoringEos(),
            -1,
            -1,
            GenerationRequest.Adjustments.NONE);
    int[] prompt = ReferenceModels.prompts("deepseek_v3").get(2).ids();
    try (InProcessServing serving =
        new InProcessServing(testKit, "deepseek_v3", InProcessServing.settings(2))) {
      int[] first =
          serving.generate(new GenerationRequest.Prompt.TokenIds(prompt), sampled).await();
      List<Recorder> crowd = new ArrayList<>();
      for (int[] p : mixedPrompts(8, 512)) {
        crowd.add(serving.generate(new GenerationRequest.Prompt.TokenIds(p), greedy(16)));
      }
      int[] again =
          serving.generate(new GenerationRequest.Prompt.TokenIds(prompt), sampled).await();
      int[] otherSeed =
          serving
              .generate(
                  new GenerationRequest.Prompt.TokenIds(prompt),
                  new GenerationRequest.Sampling(
                      16,
                      1.2f,
                      0.9f,
                      40,
                      OptionalLong.of(8),
                      GenerationRequest.Stops.ignoringEos(),
                      -1,
                      -1,
                      GenerationRequest.Adjustments.NONE))
              .await();
      for (Recorder r : crowd) {
        r.await();
      }
      assertThat(again).containsExactly(first);
      assertThat(otherSeed).isNotEqualTo(first);
    }
  }

  @Test
  void cancelledAndExpiredRequestsFreeTheirBlocksAndTheOthersFinish() throws Exception {
    try (InProcessServing serving =
        new InProcessServing(testKit, "qwen2_moe", InProcessServing.settings(2))) {
      List<int[]> prompts = mixedPrompts(40, 512);
      List<Recorder> kept = new ArrayList<>();
      List<Long> cancelled = new ArrayList<>();
      List<Recorder> cancelledAnswers = new ArrayList<>();
      for (int i = 0; i < prompts.size(); i++) {
        Recorder r = new Recorder();
        long seq =
            serving.submit(
                new GenerationRequest(
                    "r" + i,
                    new GenerationRequest.Prompt.TokenIds(prompts.get(i)),
                    greedy(200),
                    null,
                    System.nanoTime(),
                    System.nanoTime() + Duration.ofMinutes(1).toNanos()),
                r);
        if (i % 2 == 0) {
          cancelled.add(seq);
          cancelledAnswers.add(r);
        } else {
          kept.add(r);
        }
      }
      cancelledAnswers.get(cancelledAnswers.size() - 1).firstToken.get(60, TimeUnit.SECONDS);
      cancelled.forEach(seq -> serving.scheduler.tell(new Scheduler.Cancel(seq)));
      Recorder expiring = new Recorder();
      serving.submit(
          new GenerationRequest(
              "expiring",
              new GenerationRequest.Prompt.TokenIds(prompts.get(3)),
              greedy(200),
              null,
              System.nanoTime(),
              // far less than its 200 tokens take (on the panel kernel this model decodes 144
              // tokens in under 200 ms)
              System.nanoTime() + Duration.ofMillis(15).toNanos()),
          expiring);
      for (Recorder r : cancelledAnswers) {
        assertThat(r.finish().reason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokens.size()).isLessThan(200);
      }
      for (Recorder r : kept) {
        assertThat(r.finish().reason()).isEqualTo(FinishReason.LENGTH);
      }
      assertThat(expiring.finished).failsWithin(Duration.ofSeconds(60));
      assertThat(expiring.failure.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
      assertThat(serving.state())
          .satisfies(
              s -> {
                assertThat(s.usedBlocks()).isZero();
                assertThat(s.running() + s.waiting()).isZero();
                assertThat(s.stepsInFlight()).isZero();
              });
    }
  }

  @Test
  void aFailedExpertCallFailsItsStepsRequestsAndTheSchedulerGoesOn() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    UnaryOperator<RoutedExperts> breakSome =
        experts ->
            (layer, x, routing, out) -> {
              if (calls.incrementAndGet() == 5) {
                return CompletableFuture.failedFuture(
                    Status.UNAVAILABLE
                        .withDescription("no replica of layer " + layer)
                        .asRuntimeException());
              }
              return experts.compute(layer, x, routing, out);
            };
    int[] prompt = ReferenceModels.prompts("qwen3_moe").get(0).ids();
    try (InProcessServing serving =
        new InProcessServing(testKit, "qwen3_moe", InProcessServing.settings(1), breakSome)) {
      Recorder failed = serving.generate(new GenerationRequest.Prompt.TokenIds(prompt), greedy(12));
      assertThat(failed.finished).failsWithin(Duration.ofSeconds(60));
      assertThat(failed.failure.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(failed.failure.getDescription()).contains("no replica");
      int[] next =
          serving.generate(new GenerationRequest.Prompt.TokenIds(prompt), greedy(12)).await();
      assertThat(next).containsExactly(ReferenceModels.prompts("qwen3_moe").get(0).greedy());
      assertThat(serving.state().usedBlocks()).isZero();
    }
  }
}
