package io.arrakis.model.moe;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.testing.Fixtures;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The in-process reference reproduces the fixtures made by an independent PyTorch implementation.
 */
class FixtureTest {

  static Stream<Arguments> fixtureLayers() {
    return Stream.of(
        Arguments.of(Fixtures.MIXTRAL_TINY, 0),
        Arguments.of(Fixtures.MIXTRAL_TINY, 1),
        Arguments.of(Fixtures.QWEN_STYLE_BF16, 0));
  }

  @ParameterizedTest(name = "{0} layer {1}")
  @MethodSource("fixtureLayers")
  void referenceMatchesFixture(String fixture, int layer) throws Exception {
    Path dir = Fixtures.dir(fixture);
    Path expectedFile = dir.resolve("expected-layer" + layer + ".safetensors");
    INDArray x;
    try (SafetensorsFile in = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
      x = NdArrays.readFloat(in, "hidden_states");
    }

    ReferenceMoe.Result result;
    try (MoeModel model = MoeModel.open(dir)) {
      result = ReferenceMoe.load(model, layer).forward(x);
    }

    float[] expected = Fixtures.floats(expectedFile, "output");
    float[] got = result.output().data().asFloat();
    assertThat(Fixtures.maxAbsDiff(got, expected))
        .as(
            "max |got - expected| against 1e-4 x max|expected| = %s",
            1e-4f * Fixtures.maxAbs(expected))
        .isLessThanOrEqualTo(1e-4f * Fixtures.maxAbs(expected));
    assertThat(result.routing().ids()).containsExactly(Fixtures.ints(expectedFile, "topk_ids"));
    float[] expectedWeights = Fixtures.floats(expectedFile, "topk_weights");
    assertThat(Fixtures.maxAbsDiff(result.routing().weights(), expectedWeights))
        .isLessThanOrEqualTo(1e-5f);
  }
}
