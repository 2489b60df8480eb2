package io.arrakis.loadtest.testing;

import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/** Forward calls for cluster tests. */
public final class Forward {
  private Forward() {}

  public static ManagedChannel channel(String target) {
    return NettyChannelBuilder.forTarget(target).usePlaintext().build();
  }

  /** Forward with routing, a 60 s deadline. */
  public static ForwardResponse call(
      ManagedChannel channel, String id, int layer, float[] x, int tokens, int hidden) {
    return InferenceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(60, TimeUnit.SECONDS)
        .forward(
            ForwardRequest.newBuilder()
                .setRequestId(id)
                .setLayer(layer)
                .setReturnRouting(true)
                .setHiddenStates(TensorCodec.encodeFloat(x, tokens, hidden))
                .build());
  }
}
