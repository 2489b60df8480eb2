package io.arrakis.router.dispatch;

import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * One expert node as the dispatcher sees it: a batched compute call with a timeout. Free of
 * transport code so the dispatcher's rules can be tested on their own; {@link GrpcExpertClient} is
 * the real one. A failed stage carries a {@link io.grpc.StatusRuntimeException}.
 */
public interface ExpertClient {
  CompletionStage<ComputeResponse> compute(ComputeRequest request, Duration timeout);
}
