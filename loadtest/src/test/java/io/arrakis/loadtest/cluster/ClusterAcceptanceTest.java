package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.loadtest.testing.Forward;
import io.arrakis.loadtest.testing.Reference;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.loadtest.testing.TestClusters.Key;
import io.arrakis.loadtest.testing.TestClusters.Layout;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ForwardResponse;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Real processes: a router and 3 expert nodes started by {@link LocalCluster}, called over gRPC and
 * held to the fixtures (made by PyTorch) and to the in-process reference. One cluster runs at a
 * time and is reused by the tests that need the same one (they are ordered so).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterAcceptanceTest {
  private static final double TOLERANCE = 1e-4;
  private static final Key MIXTRAL_CONTIGUOUS = new Key(Fixtures.MIXTRAL_TINY, Layout.CONTIGUOUS);

  private TestClusters clusters;

  @BeforeAll
  void setUp() throws Exception {
    // under target/, so that the logs of a failed run stay to be read (each start clears its
    // folder)
    clusters = new TestClusters(Path.of("target", "cluster-tests").toAbsolutePath());
  }

  @AfterAll
  void tearDown() throws Exception {
    clusters.close();
  }

  /** 64 callers at once, 1..64 tokens each: batching across requests must never mix their rows. */
  @Test
  @Order(1)
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void concurrentClientsEachGetTheirOwnRows() throws Exception {
    LocalCluster cluster = clusters.get(MIXTRAL_CONTIGUOUS);
    Path model = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    int clients = 64;
    try (Reference ref = new Reference(model)) {
      int d = ref.hidden();
      List<float[]> inputs = new ArrayList<>();
      SplittableRandom random = new SplittableRandom(64);
      for (int i = 0; i < clients; i++) {
        float[] x = new float[(i + 1) * d];
        for (int j = 0; j < x.length; j++) {
          x[j] = (float) random.nextGaussian();
        }
        inputs.add(x);
      }
      ManagedChannel channel = Forward.channel(cluster.routerAddress());
      ExecutorService pool = Executors.newFixedThreadPool(clients);
      try {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<ForwardResponse>> answers = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
          int c = i;
          answers.add(
              pool.submit(
                  () -> {
                    go.await();
                    return Forward.call(channel, "client-" + c, c % 2, inputs.get(c), c + 1, d);
                  }));
        }
        go.countDown();
        for (int i = 0; i < clients; i++) {
          ForwardResponse r = answers.get(i).get(120, TimeUnit.SECONDS);
          int tokens = i + 1;
          Reference.Expected want = ref.forward(i % 2, inputs.get(i), tokens);
          assertThat(r.getRequestId()).isEqualTo("client-" + i);
          assertThat(r.getOutput().getShapeList()).containsExactly((long) tokens, (long) d);
          assertWithin(TensorCodec.floats(r.getOutput()), want.output(), "client " + i);
          assertThat(TensorCodec.ints(r.getTopkIds()))
              .as("client %d top-k ids", i)
              .containsExactly(want.topkIds());
        }
      } finally {
        pool.shutdownNow();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** A client made from the .proto files alone, in Python, gets the fixture's answers. */
  @Test
  @Order(2)
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void plainPythonGrpcClientGetsCorrectAnswers() throws Exception {
    LocalCluster cluster = clusters.get(MIXTRAL_CONTIGUOUS);
    PythonClient.Outcome outcome =
        PythonClient.run(cluster.routerAddress(), Fixtures.dir(Fixtures.MIXTRAL_TINY));
    assertThat(outcome.exitCode()).as("python client output:%n%s", outcome.output()).isZero();
    assertThat(outcome.output()).contains("layer 0:", "layer 1:", "PASS");
  }

  static Stream<Arguments> placements() {
    List<Arguments> out = new ArrayList<>();
    for (String fixture : List.of(Fixtures.MIXTRAL_TINY, Fixtures.QWEN_STYLE_BF16)) {
      for (Layout layout : Layout.values()) {
        out.add(Arguments.of(fixture, layout));
      }
    }
    return out.stream();
  }

  /**
   * Every MoE layer of both fixtures, under each placement: equal to the fixture and the reference.
   */
  @ParameterizedTest(name = "{0}, {1}")
  @MethodSource("placements")
  @Order(3)
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void forwardEqualsFixtureAndReference(String fixture, Layout layout) throws Exception {
    LocalCluster cluster = clusters.get(new Key(fixture, layout));
    Path dir = Fixtures.dir(fixture);
    float[] x = Fixtures.floats(dir.resolve("input.safetensors"), "hidden_states");
    long[] shape = Fixtures.shape(dir.resolve("input.safetensors"), "hidden_states");
    int tokens = (int) shape[0];
    int d = (int) shape[1];
    ManagedChannel channel = Forward.channel(cluster.routerAddress());
    try (Reference ref = new Reference(dir)) {
      assertThat(ref.model().moeLayers()).isNotEmpty();
      for (int layer : ref.model().moeLayers()) {
        Path expected = dir.resolve("expected-layer" + layer + ".safetensors");
        ForwardResponse r = Forward.call(channel, fixture + "-" + layer, layer, x, tokens, d);
        float[] got = TensorCodec.floats(r.getOutput());
        String what = fixture + " layer " + layer + " (" + layout + ")";
        assertWithin(got, Fixtures.floats(expected, "output"), what + " vs fixture");
        assertWithin(got, ref.forward(layer, x, tokens).output(), what + " vs reference");
        assertThat(TensorCodec.ints(r.getTopkIds()))
            .as(what + " top-k ids")
            .containsExactly(Fixtures.ints(expected, "topk_ids"));
        float[] weights = TensorCodec.floats(r.getTopkWeights());
        float[] wantWeights = Fixtures.floats(expected, "topk_weights");
        assertThat(Fixtures.maxAbsDiff(weights, wantWeights))
            .as(what + " top-k weights")
            .isLessThanOrEqualTo(1e-5f);
      }
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** |got − want| ≤ 1e-4 × max|want|, the fixtures' tolerance. */
  static void assertWithin(float[] got, float[] want, String what) {
    assertThat(got).as(what + " size").hasSameSizeAs(want);
    double limit = TOLERANCE * Fixtures.maxAbs(want);
    assertThat((double) Fixtures.maxAbsDiff(got, want))
        .as(what + " max |got - want|")
        .isLessThanOrEqualTo(limit);
  }
}
