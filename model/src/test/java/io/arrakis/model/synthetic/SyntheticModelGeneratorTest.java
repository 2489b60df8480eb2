package io.arrakis.model.synthetic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.TensorNames;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.NdArrays;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Synthetic models: valid Mixtral-style directories, reproducible, with the asked-for popularity
 * skew.
 */
class SyntheticModelGeneratorTest {
  private static final int LAYERS = 2;
  private static final int EXPERTS = 16;
  private static final int HIDDEN = 32;
  private static final int FFN = 48;
  private static final int SAMPLES = 4000;

  @TempDir Path tmp;

  private static GeneratorOptions options(boolean bf16, double skew, long seed) {
    return new GeneratorOptions(LAYERS, EXPERTS, HIDDEN, FFN, 2, true, bf16, skew, seed);
  }

  @Test
  void generatedModelOpensWithEveryLayerAndExpertInPlace() throws IOException {
    Path dir = tmp.resolve("m");
    SyntheticModelGenerator.generate(
        dir, new GeneratorOptions(LAYERS, EXPERTS, HIDDEN, FFN, 3, false, false, 1.0, 5));

    try (MoeModel model = MoeModel.open(dir)) {
      assertThat(model.config())
          .isEqualTo(new ModelConfig(HIDDEN, FFN, EXPERTS, 3, LAYERS, false, "float32"));
      assertThat(model.moeLayers()).containsExactly(0, 1);
      assertThat(model.weightsDtype()).isEqualTo("F32");
      Gate gate = model.gate(1);
      assertThat(gate.experts()).isEqualTo(EXPERTS);
      assertThat(gate.hiddenSize()).isEqualTo(HIDDEN);
      assertThat(gate.topK()).isEqualTo(3);
      ExpertKernel expert = model.expert(1, EXPERTS - 1);
      assertThat(expert.hiddenSize()).isEqualTo(HIDDEN);
      assertThat(expert.ffnSize()).isEqualTo(FFN);
      INDArray bias = model.inputBias().orElseThrow();
      assertThat(bias.shape()).containsExactly(HIDDEN);
      assertThat(bias.norm2Number().doubleValue()).isCloseTo(8.0, within(1e-4));
    }
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
      assertThat(f.metadata()).containsEntry("format", "pt").containsEntry("arrakis.seed", "5");
    }
    assertThat(dir.resolve("model.safetensors.tmp")).doesNotExist();
  }

  @Test
  void theSameSeedGivesTheSameBytesAndAnotherSeedOtherWeights() throws IOException {
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    Path c = tmp.resolve("c");
    SyntheticModelGenerator.generate(a, options(false, 1.2, 42));
    SyntheticModelGenerator.generate(b, options(false, 1.2, 42));
    SyntheticModelGenerator.generate(c, options(false, 1.2, 43));

    assertThat(Files.readAllBytes(b.resolve("model.safetensors")))
        .isEqualTo(Files.readAllBytes(a.resolve("model.safetensors")));
    assertThat(Files.readAllBytes(b.resolve("config.json")))
        .isEqualTo(Files.readAllBytes(a.resolve("config.json")));
    try (SafetensorsFile fa = SafetensorsFile.open(a.resolve("model.safetensors"));
        SafetensorsFile fc = SafetensorsFile.open(c.resolve("model.safetensors"))) {
      for (String name :
          new String[] {
            TensorNames.INPUT_BIAS, TensorNames.gate(0), TensorNames.expert(1, 3, "w2")
          }) {
        assertThat(fc.info(name).shape()).isEqualTo(fa.info(name).shape());
        assertThat(fc.bytes(name)).as(name).isNotEqualTo(fa.bytes(name));
      }
    }
  }

  @Test
  void regeneratingIntoTheSameDirectoryReplacesTheModel() throws IOException {
    Path dir = tmp.resolve("m");
    Path other = tmp.resolve("other");
    SyntheticModelGenerator.generate(dir, options(false, 1.0, 1));
    SyntheticModelGenerator.generate(dir, options(false, 1.0, 2));
    SyntheticModelGenerator.generate(other, options(false, 1.0, 2));

    assertThat(Files.readAllBytes(dir.resolve("model.safetensors")))
        .isEqualTo(Files.readAllBytes(other.resolve("model.safetensors")));
  }

  /**
   * Skew 1.2: top-1 shares should follow about r^-1.2 / Σ r^-1.2, i.e. 0.36 for the hottest of 16
   * experts (5.8/E) and share(1)/share(4) = 4^1.2 ≈ 5.3. The bounds leave room for the generator's
   * Gaussian (not Gumbel) noise and for sampling.
   */
  @Test
  void skewMakesTopOnePopularityZipfLikeWithDifferentHotExpertsPerLayer() throws IOException {
    Path dir = tmp.resolve("m");
    SyntheticModelGenerator.generate(dir, options(false, 1.2, 42));

    double[][] shares = new double[LAYERS][];
    try (MoeModel model = MoeModel.open(dir)) {
      INDArray x = inputs(model, new SplittableRandom(1));
      for (int l = 0; l < LAYERS; l++) {
        shares[l] = topOneShares(model.gate(l), x);
      }
    }

    for (int l = 0; l < LAYERS; l++) {
      double[] sorted = descending(shares[l]);
      assertThat(sorted[0])
          .as("layer %d: hottest expert's share, %s", l, Arrays.toString(sorted))
          .isGreaterThan(3.0 / EXPERTS);
      assertThat(sorted[0] / sorted[3])
          .as("layer %d: share(rank 1) / share(rank 4), %s", l, Arrays.toString(sorted))
          .isBetween(2.0, 8.0);
      assertThat(sorted[1] / sorted[7])
          .as("layer %d: share(rank 2) / share(rank 8), %s", l, Arrays.toString(sorted))
          .isGreaterThan(1.5);
    }
    // each layer shuffles which expert gets which rank
    int[] byRank0 = hottest(shares[0], EXPERTS);
    int[] byRank1 = hottest(shares[1], EXPERTS);
    assertThat(IntStream.of(byRank1).limit(4).boxed().collect(Collectors.toSet()))
        .as("the four hottest experts of layer 1 against layer 0's %s", Arrays.toString(byRank0))
        .isNotEqualTo(IntStream.of(byRank0).limit(4).boxed().collect(Collectors.toSet()));
    long sameRank = IntStream.range(0, EXPERTS).filter(r -> byRank0[r] == byRank1[r]).count();
    assertThat(sameRank)
        .as(
            "experts at the same popularity rank in both layers: %s vs %s",
            Arrays.toString(byRank0), Arrays.toString(byRank1))
        .isLessThan(EXPERTS / 2);
  }

  /**
   * The gate's biases: with independent Gaussian noise of standard deviation π/√6 on each logit
   * (what the generated gates give), the rank-r expert wins r^-s / Σ r^-s of the time.
   */
  @Test
  void popularityBiasesGiveZipfSharesUnderGaussianNoise() {
    double[] b = SyntheticModelGenerator.popularityBiases(EXPERTS, 1.2);

    int samples = 200_000;
    double sigma = Math.PI / Math.sqrt(6);
    SplittableRandom rnd = new SplittableRandom(9);
    double[] wins = new double[EXPERTS];
    for (int i = 0; i < samples; i++) {
      int best = 0;
      double bestValue = Double.NEGATIVE_INFINITY;
      for (int r = 0; r < EXPERTS; r++) {
        double v = b[r] + sigma * rnd.nextGaussian();
        if (v > bestValue) {
          bestValue = v;
          best = r;
        }
      }
      wins[best] += 1.0 / samples;
    }
    double norm = IntStream.rangeClosed(1, EXPERTS).mapToDouble(r -> Math.pow(r, -1.2)).sum();
    for (int r = 0; r < EXPERTS; r++) {
      assertThat(wins[r])
          .as("share of rank %d", r + 1)
          .isCloseTo(Math.pow(r + 1, -1.2) / norm, within(0.004));
    }
  }

  @Test
  void popularityBiasesDecreaseWithRankAndVanishWithoutSkew() {
    double[] b = SyntheticModelGenerator.popularityBiases(EXPERTS, 1.2);

    assertThat(b[0]).isZero();
    for (int r = 1; r < EXPERTS; r++) {
      assertThat(b[r]).as("bias of rank %d", r + 1).isLessThan(b[r - 1]);
    }
    assertThat(SyntheticModelGenerator.popularityBiases(EXPERTS, 0)).containsOnly(0.0);
    assertThat(SyntheticModelGenerator.popularityBiases(1, 2.0)).containsExactly(0.0);
  }

  @Test
  void skewZeroSpreadsTopOneTrafficEvenly() throws IOException {
    Path dir = tmp.resolve("m");
    SyntheticModelGenerator.generate(dir, options(false, 0.0, 42));

    try (MoeModel model = MoeModel.open(dir)) {
      INDArray x = inputs(model, new SplittableRandom(2));
      for (int l = 0; l < LAYERS; l++) {
        double[] sorted = descending(topOneShares(model.gate(l), x));
        assertThat(sorted[0])
            .as("layer %d: hottest expert's share, %s", l, Arrays.toString(sorted))
            .isLessThan(2.5 / EXPERTS);
        assertThat(sorted[EXPERTS - 1])
            .as("layer %d: coldest expert's share", l)
            .isGreaterThan(0.0);
      }
    }
  }

  @Test
  void bf16ModelsStoreBf16WeightsAndLoad() throws IOException {
    Path f32 = tmp.resolve("f32");
    Path bf16 = tmp.resolve("bf16");
    SyntheticModelGenerator.generate(f32, options(false, 1.2, 42));
    SyntheticModelGenerator.generate(bf16, options(true, 1.2, 42));

    try (MoeModel model = MoeModel.open(bf16)) {
      assertThat(model.config().torchDtype()).isEqualTo("bfloat16");
      assertThat(model.weightsDtype()).isEqualTo("BF16");
      INDArray x = inputs(model, new SplittableRandom(3));
      Routing r = model.gate(0).route(x);
      assertThat(r.weights()).doesNotContain(Float.NaN);
      INDArray y = model.expert(1, 7).apply(x);
      assertThat(y.shape()).containsExactly(SAMPLES, HIDDEN);
      assertThat(y.isInfinite().any() || y.isNaN().any()).isFalse();
    }
    try (SafetensorsFile fb = SafetensorsFile.open(bf16.resolve("model.safetensors"));
        SafetensorsFile ff = SafetensorsFile.open(f32.resolve("model.safetensors"))) {
      assertThat(fb.info(TensorNames.gate(1)).dtype()).isEqualTo(StDType.BF16);
      assertThat(fb.info(TensorNames.expert(0, 0, "w1")).dtype()).isEqualTo(StDType.BF16);
      assertThat(fb.info(TensorNames.INPUT_BIAS).dtype()).isEqualTo(StDType.F32);
      // the same random draws, rounded to bfloat16
      float[] wide = NdArrays.readFloat(ff, TensorNames.expert(1, 2, "w3")).data().asFloat();
      float[] narrow = NdArrays.readFloat(fb, TensorNames.expert(1, 2, "w3")).data().asFloat();
      for (int i = 0; i < wide.length; i++) {
        assertThat(narrow[i]).as("element %d", i).isEqualTo(Bf16.round(wide[i]));
      }
    }
    assertThat(Files.size(bf16.resolve("model.safetensors")))
        .isLessThan(Files.size(f32.resolve("model.safetensors")) * 6 / 10);
  }

  @Test
  void optionsAreValidated() {
    assertThatThrownBy(() -> new GeneratorOptions(2, 8, 32, 48, 9, true, false, 1, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("top-k");
    assertThatThrownBy(() -> new GeneratorOptions(2, 8, 32, 48, 2, true, false, -0.5, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("skew");
    assertThatThrownBy(() -> new GeneratorOptions(2, 8, 32, 48, 2, true, false, Double.NaN, 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new GeneratorOptions(0, 8, 32, 48, 2, true, false, 1, 1))
        .isInstanceOf(IllegalArgumentException.class);
  }

  /**
   * SAMPLES inputs the way the generator means them: x = z⊥ + bias, z standard Gaussian with its
   * component along the input bias removed.
   */
  private static INDArray inputs(MoeModel model, SplittableRandom rnd) throws IOException {
    float[] bias = model.inputBias().orElseThrow().data().asFloat();
    double norm2 = 0;
    for (float b : bias) {
      norm2 += (double) b * b;
    }
    float[][] x = new float[SAMPLES][bias.length];
    double[] z = new double[bias.length];
    for (float[] row : x) {
      double along = 0;
      for (int i = 0; i < z.length; i++) {
        z[i] = rnd.nextGaussian();
        along += z[i] * bias[i];
      }
      for (int i = 0; i < z.length; i++) {
        row[i] = (float) (z[i] - along / norm2 * bias[i] + bias[i]);
      }
    }
    return Nd4j.createFromArray(x);
  }

  private static double[] topOneShares(Gate gate, INDArray x) {
    Routing r = gate.route(x);
    double[] shares = new double[gate.experts()];
    for (int t = 0; t < r.tokens(); t++) {
      shares[r.expert(t, 0)] += 1.0 / r.tokens();
    }
    return shares;
  }

  private static double[] descending(double[] a) {
    return Arrays.stream(a).map(v -> -v).sorted().map(v -> -v).toArray();
  }

  private static int[] hottest(double[] shares, int n) {
    return IntStream.range(0, shares.length)
        .boxed()
        .sorted((p, q) -> Double.compare(shares[q], shares[p]))
        .mapToInt(Integer::intValue)
        .limit(n)
        .toArray();
  }
}
