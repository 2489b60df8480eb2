package io.arrakis.router.request;

import io.arrakis.proto.v1.ForwardResponse;
import io.grpc.Status;

/** The single answer to a Forward call. */
public sealed interface ForwardOutcome {
  record Succeeded(ForwardResponse response) implements ForwardOutcome {}

  record Failed(Status status) implements ForwardOutcome {}
}
