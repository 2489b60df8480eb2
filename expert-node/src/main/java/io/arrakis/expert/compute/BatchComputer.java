package io.arrakis.expert.compute;

import io.arrakis.model.kernel.MoeCombiner;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.model.tensor.TensorChecks;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Computes prepared batches: decode the tokens, run each expert on its rows, scale by the gate
 * weights, sum per token, encode. Each compute thread keeps its own {@link MoeCombiner}, whose
 * scratch is reused from batch to batch, so native memory stays flat under sustained load.
 */
public final class BatchComputer {
  private final ThreadLocal<MoeCombiner> combiners = ThreadLocal.withInitial(MoeCombiner::new);

  public ComputeResponse compute(PreparedBatch batch) throws TensorCheckException {
    MoeCombiner combiner = combiners.get();
    Tensor hidden = batch.hiddenStates();
    INDArray x = combiner.input(batch.tokens(), hidden.getShape(1));
    TensorCodec.decodeFloatInto(hidden, x);
    TensorChecks.checkFinite("hidden_states", x);
    ByteBuffer sums = combiner.combine(x, batch.work());
    return ComputeResponse.newBuilder()
        .setBatchId(batch.batchId())
        .setPartialSums(Tensor.newBuilder()
            .setDtype(DType.FLOAT32)
            .addShape(batch.tokens())
            .addShape(hidden.getShape(1))
            .setData(ByteString.copyFrom(sums)))
        .build();
  }
}
