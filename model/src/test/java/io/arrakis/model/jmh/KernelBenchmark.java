package io.arrakis.model.jmh;

import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import io.arrakis.model.kernel.MoeCombiner;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
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

/**
 * One SwiGLU expert on {@code rows} tokens through {@link MoeCombiner} (gather, two panel products,
 * SwiGLU, weighted scatter-add), on one thread. {@code experts} distinct experts are cycled so
 * that, as in a real layer, weights come from memory rather than from a cache that one expert would
 * fit in.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class KernelBenchmark {
  @Param({"1024"})
  int hidden;

  @Param({"3584"})
  int ffn;

  @Param({"1", "16", "256"})
  int rows;

  @Param({"4"})
  int experts;

  private List<List<ExpertWork>> work;
  private INDArray x;
  private final MoeCombiner combiner = new MoeCombiner();
  private int next;

  @Setup
  public void setUp() {
    Blas.threads(1);
    Nd4j.getRandom().setSeed(1);
    float scale = (float) (1 / Math.sqrt(hidden));
    int[] all = IntStream.range(0, rows).toArray();
    float[] weights = new float[rows];
    Arrays.fill(weights, 0.5f);
    work =
        IntStream.range(0, experts)
            .mapToObj(
                e ->
                    List.of(
                        new ExpertWork(
                            ExpertKernel.fromHf(
                                Nd4j.randn(DataType.FLOAT, ffn, hidden).muli(scale),
                                Nd4j.randn(DataType.FLOAT, ffn, hidden).muli(scale),
                                Nd4j.randn(DataType.FLOAT, hidden, ffn)
                                    .muli((float) (1 / Math.sqrt(ffn)))),
                            all,
                            weights)))
            .toList();
    x = combiner.input(rows, hidden).assign(Nd4j.randn(DataType.FLOAT, rows, hidden));
  }

  @Benchmark
  public ByteBuffer expert() {
    next = (next + 1) % experts;
    return combiner.combine(x, work.get(next));
  }
}
