package io.arrakis.loadtest.load;

import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.Channel;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Sends one request per MoE layer and holds the answers to the in-process reference: output within
 * 1e-4 × max|expected| and the same top-k experts. Proof that the numbers a demo reports are for
 * correct work.
 */
public final class ReferenceCheck {
  /** The fixtures' tolerance, relative to the largest expected magnitude. */
  public static final double TOLERANCE = 1e-4;

  private static final Duration DEADLINE = Duration.ofSeconds(30);

  /**
   * What the check found: worst relative error over all layers, and layers whose top-k ids differ.
   */
  public record Result(int requests, int tokens, double maxRelativeError, int idMismatches) {
    public boolean passed() {
      return maxRelativeError <= TOLERANCE && idMismatches == 0;
    }
  }

  private ReferenceCheck() {}

  public static Result run(Channel channel, Path modelDir, int tokens, float[] bias, long seed)
      throws IOException {
    InferenceGrpc.InferenceBlockingStub stub = InferenceGrpc.newBlockingStub(channel);
    double worst = 0;
    int mismatches = 0;
    int requests = 0;
    try (MoeModel model = MoeModel.open(modelDir)) {
      int d = model.config().hiddenSize();
      InputSampler sampler = new InputSampler(d, bias, seed);
      for (int layer : model.moeLayers()) {
        float[] x = sampler.sample(tokens);
        ForwardResponse got =
            stub.withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .forward(
                    ForwardRequest.newBuilder()
                        .setRequestId("check-" + layer)
                        .setLayer(layer)
                        .setReturnRouting(true)
                        .setHiddenStates(TensorCodec.encodeFloat(x, tokens, d))
                        .build());
        requests++;
        // one layer's experts at a time: the whole model need not fit beside the cluster
        ReferenceMoe.Result want =
            ReferenceMoe.load(model, layer).forward(Nd4j.create(x, new long[] {tokens, d}, 'c'));
        float[] expected = want.output().dup('c').data().asFloat();
        worst = Math.max(worst, relativeError(TensorCodec.floats(got.getOutput()), expected));
        if (!Arrays.equals(TensorCodec.ints(got.getTopkIds()), want.routing().ids())) {
          mismatches++;
        }
      }
    }
    return new Result(requests, requests * tokens, worst, mismatches);
  }

  /** max |got − expected| ÷ max |expected|; infinite for a shape mismatch. */
  static double relativeError(float[] got, float[] expected) {
    if (got.length != expected.length) {
      return Double.POSITIVE_INFINITY;
    }
    double scale = 0;
    double diff = 0;
    for (int i = 0; i < got.length; i++) {
      scale = Math.max(scale, Math.abs(expected[i]));
      diff = Math.max(diff, Math.abs(got[i] - expected[i]));
    }
    return scale == 0 ? diff : diff / scale;
  }
}
