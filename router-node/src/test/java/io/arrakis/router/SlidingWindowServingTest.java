package io.arrakis.router;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigFactory;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.generate.Generator;
import io.arrakis.engine.generate.TokenListener;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.engine.synthetic.WholeModelGenerator;
import io.arrakis.model.config.Family;
import io.grpc.Status;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose attention slides (Qwen3-MoE with {@code use_sliding_window}) generates on the
 * cluster, its experts on two nodes, the tokens the runtime generates in process, well past the
 * window.
 */
class SlidingWindowServingTest {
  private static final int WINDOW = 5;
  private static final int TOKENS = 30;

  @TempDir Path dir;

  @Test
  void theClusterGeneratesTheRuntimesTokensPastTheWindow() throws Exception {
    WholeModelGenerator.generate(
        dir, WholeModelGenerator.Shape.of(Family.QWEN3_MOE).layers(3).hidden(128).seed(21));
    ObjectMapper json = new ObjectMapper();
    ObjectNode config = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
    config.put("use_sliding_window", true).put("sliding_window", WINDOW);
    Files.writeString(dir.resolve("config.json"), config.toString());
    int[] prompt = new SplittableRandom(3).ints(20, 3, 512).toArray();

    int[] inProcess;
    try (Engine engine = Engine.load(dir, EngineOptions.DEFAULT)) {
      assertThat(engine.config().attention().windows()).containsOnly(WINDOW);
      inProcess =
          new Generator(engine, 0)
              .generate(
                  prompt,
                  SamplingParams.greedy(TOKENS, Set.of()).withIgnoreEos(true),
                  TokenListener.NONE)
              .tokens();
    }
    try (RouterHarness h =
        RouterHarness.serving(dir, new SimpleMeterRegistry(), ConfigFactory.load())) {
      GenerateStream stream =
          GenerateStream.start(
              h.channel,
              GenerateServiceTest.ids("sliding", prompt, GenerateServiceTest.greedy(TOKENS)));
      assertThat(stream.await().getCode()).isEqualTo(Status.Code.OK);
      assertThat(stream.tokens()).hasSize(TOKENS).containsExactly(inProcess);
    }
  }
}
