package io.arrakis.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.synthetic.WholeModelGenerator;
import io.arrakis.model.config.Family;
import io.arrakis.model.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Sliding-window attention as transformers defines it: a query sees itself and the {@code W - 1}
 * positions before it. With every layer sliding, a token's logits after L layers depend only on the
 * last {@code L·(W - 1) + 1} tokens, and RoPE sees only distances, so they equal the logits of
 * those tokens run alone from position 0: one token fewer (or a window one wider or narrower) and
 * they do not. Checked for a prefill in one step (attention through BLAS) and token by token (the
 * decode path).
 */
class SlidingWindowTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int LAYERS = 2;
  private static final int WINDOW = 4;
  private static final int REACH = LAYERS * (WINDOW - 1) + 1;
  private static final int LENGTH = 24;
  // float32 rounding: the same dot products at other absolute positions (RoPE tables) and sums in
  // another order
  private static final float ROUNDING = 1e-4f;
  // what one token more or less in reach changes, far above rounding
  private static final float CHANGED = 1e-2f;

  @TempDir Path dir;

  /** A 2-layer model of {@code family} whose every layer slides over {@code WINDOW} keys. */
  private Path model(Family family, boolean sliding) throws Exception {
    Path d = dir.resolve(family + (sliding ? "-sliding" : "-full"));
    WholeModelGenerator.generate(
        d, WholeModelGenerator.Shape.of(family).layers(LAYERS).hidden(128).seed(11));
    ObjectNode config = (ObjectNode) JSON.readTree(d.resolve("config.json").toFile());
    if (sliding) {
      config.put("sliding_window", WINDOW);
      if (family != Family.MIXTRAL) {
        config.put("use_sliding_window", true);
      }
      if (family == Family.QWEN2_MOE) {
        ArrayNode types = config.putArray("layer_types");
        for (int l = 0; l < LAYERS; l++) {
          types.add("sliding_attention");
        }
      }
    }
    Files.writeString(d.resolve("config.json"), config.toString());
    return d;
  }

  private static int[] tokens() {
    SplittableRandom r = new SplittableRandom(5);
    return r.ints(LENGTH, 3, 512).toArray();
  }

  /** The next-token logits after {@code ids}, as a fresh sequence. */
  private static float[] alone(Engine engine, int[] ids) {
    float[] l = engine.step(List.of(SequenceChunk.of(-1, ids))).logits(0);
    engine.release(-1);
    return l;
  }

  private static float[] row(float[] all, int p, int vocab) {
    return Arrays.copyOfRange(all, p * vocab, (p + 1) * vocab);
  }

  @ParameterizedTest
  @EnumSource(
      value = Family.class,
      names = {"MIXTRAL", "QWEN2_MOE", "QWEN3_MOE"})
  void aTokensLogitsDependOnlyOnTheTokensInReach(Family family) throws Exception {
    int[] ids = tokens();
    try (Engine engine = Engine.load(model(family, true), EngineOptions.DEFAULT)) {
      int vocab = engine.config().vocabSize();
      assertThat(engine.config().attention().windows()).containsOnly(WINDOW);
      float[] prefill = engine.step(List.of(new SequenceChunk(1, ids, true))).logits(0);
      float[][] decoded = new float[LENGTH][];
      for (int p = 0; p < LENGTH; p++) {
        decoded[p] = engine.step(List.of(SequenceChunk.of(2, ids[p]))).logits(0);
      }
      for (int p = REACH - 1; p < LENGTH; p++) {
        float[] inReach = alone(engine, Arrays.copyOfRange(ids, p - REACH + 1, p + 1));
        assertThat(Fixtures.maxAbsDiff(row(prefill, p, vocab), inReach))
            .as("%s prefill, position %d", family, p)
            .isLessThanOrEqualTo(ROUNDING);
        assertThat(Fixtures.maxAbsDiff(decoded[p], inReach))
            .as("%s decode, position %d", family, p)
            .isLessThanOrEqualTo(ROUNDING);
        float[] oneShort = alone(engine, Arrays.copyOfRange(ids, p - REACH + 2, p + 1));
        assertThat(Fixtures.maxAbsDiff(decoded[p], oneShort))
            .as("%s position %d without the farthest token in reach", family, p)
            .isGreaterThan(CHANGED);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = Family.class,
      names = {"MIXTRAL", "QWEN2_MOE", "QWEN3_MOE"})
  void withoutTheWindowTokensOutOfReachCount(Family family) throws Exception {
    int[] ids = tokens();
    try (Engine engine = Engine.load(model(family, false), EngineOptions.DEFAULT)) {
      assertThat(engine.config().attention().windows()).containsOnly(0);
      float[] all = alone(engine, ids);
      float[] inReach = alone(engine, Arrays.copyOfRange(ids, LENGTH - REACH, LENGTH));
      assertThat(Fixtures.maxAbsDiff(all, inReach)).isGreaterThan(CHANGED);
    }
  }
}
