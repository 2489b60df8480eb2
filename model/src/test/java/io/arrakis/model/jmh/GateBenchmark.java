package io.arrakis.model.jmh;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import java.util.concurrent.TimeUnit;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/** The router's gate: logits X·Gᵀ, softmax and top-k for a batch of tokens. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GateBenchmark {
  @Param({"1024"})
  int hidden;

  @Param({"8"})
  int experts;

  @Param({"2"})
  int topK;

  @Param({"1", "64", "1024"})
  int tokens;

  private Gate gate;
  private INDArray x;

  @Setup
  public void setUp() {
    Nd4j.getRandom().setSeed(1);
    gate =
        new Gate(
            Nd4j.randn(DataType.FLOAT, experts, hidden).muli((float) (1 / Math.sqrt(hidden))),
            topK,
            true);
    x = Nd4j.randn(DataType.FLOAT, tokens, hidden);
  }

  @Benchmark
  public Routing route() {
    return gate.route(x);
  }
}
