package io.arrakis.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.layers.FeedForward;
import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.testing.ReferenceModels;
import io.arrakis.engine.testing.ReferenceModels.Prompt;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.testing.Fixtures;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The runtime against Hugging Face transformers' own outputs on the four reference checkpoints
 * (../shared/models): logits at every position, greedy decoding through the KV cache, every MoE
 * block.
 */
class ReferenceModelsTest {
  static final List<String> MODELS = ReferenceModels.NAMES;
  private static final float LOGIT_TOLERANCE = 1e-4f;
  private static final float MOE_TOLERANCE = 1e-5f; // of the largest expected magnitude

  @ParameterizedTest
  @FieldSource("MODELS")
  void logitsAtEveryPositionMatchTransformers(String name) throws Exception {
    try (Engine engine = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      List<Prompt> prompts = ReferenceModels.prompts(name);
      for (int p = 0; p < prompts.size(); p++) {
        StepResult r = engine.step(List.of(new SequenceChunk(p, prompts.get(p).ids(), true)));
        engine.release(p);
        float[] want = ReferenceModels.expected(name, "logits_" + p);
        float err = Fixtures.maxAbsDiff(r.logits(0), want);
        System.out.printf("%s prompt %d: logits max abs error %.3g%n", name, p, err);
        assertThat(err).as("%s prompt %d logits", name, p).isLessThanOrEqualTo(LOGIT_TOLERANCE);
      }
    }
  }

  @ParameterizedTest
  @FieldSource("MODELS")
  void greedyDecodingThroughTheKvCacheGivesTransformersTokens(String name) throws Exception {
    try (Engine engine =
        Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT.withBlockSize(4))) {
      List<Prompt> prompts = ReferenceModels.prompts(name);
      for (int p = 0; p < prompts.size(); p++) {
        Prompt prompt = prompts.get(p);
        float[] want = ReferenceModels.expected(name, "gen_logits_" + p);
        int vocab = engine.config().vocabSize();
        int[] got = new int[prompt.greedy().length];
        float[] logits = engine.step(List.of(SequenceChunk.of(p, prompt.ids()))).logits(0);
        float err = 0;
        for (int t = 0; t < got.length; t++) {
          err =
              Math.max(
                  err,
                  Fixtures.maxAbsDiff(
                      logits, Arrays.copyOfRange(want, t * vocab, (t + 1) * vocab)));
          got[t] = Sampler.argmax(logits, 0, vocab);
          if (t + 1 < got.length) {
            logits = engine.step(List.of(SequenceChunk.of(p, got[t]))).logits(0);
          }
        }
        engine.release(p);
        System.out.printf(
            "%s prompt %d: greedy %s, gen logits max abs error %.3g%n",
            name, p, Arrays.toString(got), err);
        assertThat(got).as("%s prompt %d greedy tokens", name, p).containsExactly(prompt.greedy());
        assertThat(err).as("%s prompt %d gen logits", name, p).isLessThanOrEqualTo(LOGIT_TOLERANCE);
      }
    }
  }

  @ParameterizedTest
  @FieldSource("MODELS")
  void everyMoeBlockMatchesTransformersOnItsOwnInput(String name) throws Exception {
    try (Engine engine = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      int d = engine.config().hiddenSize();
      for (int layer : ReferenceModels.moeLayers(name)) {
        float[] in = ReferenceModels.expected(name, "moe_in_" + layer);
        float[] want = ReferenceModels.expected(name, "moe_out_" + layer);
        float[] got = engine.moeBlock(layer, in, in.length / d);
        float err = Fixtures.maxAbsDiff(got, want);
        System.out.printf(
            "%s MoE layer %d: max abs error %.3g (largest %.3g)%n",
            name, layer, err, Fixtures.maxAbs(want));
        assertThat(err)
            .as("%s layer %d moe_out", name, layer)
            .isLessThanOrEqualTo(MOE_TOLERANCE * Fixtures.maxAbs(want));
      }
    }
  }

  /**
   * What a router and expert nodes hold for the layer API: MoeModel's gate, routed experts and
   * shared expert.
   */
  @ParameterizedTest
  @FieldSource("MODELS")
  void moeModelsGateRoutedAndSharedExpertsReproduceEveryMoeBlock(String name) throws Exception {
    try (MoeModel moe = MoeModel.open(ReferenceModels.dir(name))) {
      int d = moe.config().hiddenSize();
      assertThat(moe.moeLayers()).containsExactlyElementsOf(ReferenceModels.moeLayers(name));
      for (int layer : moe.moeLayers()) {
        float[] in = ReferenceModels.expected(name, "moe_in_" + layer);
        float[] want = ReferenceModels.expected(name, "moe_out_" + layer);
        int rows = in.length / d;
        INDArray x = Nd4j.create(in, new long[] {rows, d}, 'c');
        float[] got = ReferenceMoe.load(moe, layer).forward(x).output().data().asFloat();
        Optional<MoeModel.SharedExpert> shared = moe.sharedExpert(layer);
        if (shared.isPresent()) {
          float[] s =
              new FeedForward(shared.get().kernel(), shared.get().gate().orElse(null))
                  .applied(in, rows);
          for (int i = 0; i < got.length; i++) {
            got[i] += s[i];
          }
        }
        assertThat(Fixtures.maxAbsDiff(got, want))
            .as("%s layer %d", name, layer)
            .isLessThanOrEqualTo(MOE_TOLERANCE * Fixtures.maxAbs(want));
      }
    }
  }

  @ParameterizedTest
  @FieldSource("MODELS")
  void theMoeInputsOfAWholeForwardPassAreTransformers(String name) throws Exception {
    try (Engine engine = Engine.load(ReferenceModels.dir(name), EngineOptions.DEFAULT)) {
      Map<Integer, float[]> seen = new HashMap<>();
      engine.tap((layer, rows, in, out) -> seen.put(layer, Arrays.copyOf(in, in.length)));
      engine.step(List.of(SequenceChunk.of(0, ReferenceModels.prompts(name).get(0).ids())));
      for (int layer : ReferenceModels.moeLayers(name)) {
        float[] want = ReferenceModels.expected(name, "moe_in_" + layer);
        assertThat(Fixtures.maxAbsDiff(seen.get(layer), want))
            .as("%s moe_in_%d", name, layer)
            .isLessThanOrEqualTo(LOGIT_TOLERANCE);
      }
    }
  }
}
