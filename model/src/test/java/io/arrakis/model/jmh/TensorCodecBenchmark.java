package io.arrakis.model.jmh;

import com.google.protobuf.ByteString;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
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

/**
 * Wire tensors of hidden states [tokens, hidden]: encoding an array, decoding a FLOAT32 tensor into
 * a reused array (the expert node's path), and widening a BFLOAT16 one.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TensorCodecBenchmark {
  @Param({"1024"})
  int hidden;

  @Param({"1", "64", "1024"})
  int tokens;

  private INDArray x;
  private INDArray into;
  private Tensor f32;
  private Tensor bf16;

  @Setup
  public void setUp() {
    Nd4j.getRandom().setSeed(1);
    x = Nd4j.randn(DataType.FLOAT, tokens, hidden);
    into = Nd4j.create(DataType.FLOAT, tokens, hidden);
    f32 = TensorCodec.encodeFloat(x);
    bf16 =
        f32.toBuilder()
            .setDtype(DType.BFLOAT16)
            .setData(ByteString.copyFrom(NdArrays.toBytes(x.castTo(DataType.BFLOAT16))))
            .build();
  }

  @Benchmark
  public Tensor encodeFloat32() {
    return TensorCodec.encodeFloat(x);
  }

  @Benchmark
  public INDArray decodeFloat32Into() {
    TensorCodec.decodeFloatInto(f32, into);
    return into;
  }

  @Benchmark
  public INDArray decodeBfloat16() {
    return TensorCodec.decodeFloat(bf16);
  }
}
