package io.arrakis.router.serve;

import io.grpc.Status;

/** A request refused before it ran, with the status its client gets. */
final class GenerationRefused extends Exception {
  private final Status status;

  GenerationRefused(Status status) {
    super(status.getDescription(), null, false, false);
    this.status = status;
  }

  static GenerationRefused invalid(String message) {
    return new GenerationRefused(Status.INVALID_ARGUMENT.withDescription(message));
  }

  Status status() {
    return status;
  }
}
