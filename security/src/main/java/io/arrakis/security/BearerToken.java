package io.arrakis.security;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import java.util.concurrent.Executor;

/**
 * Client side of a bearer token in an {@link AccessPolicy}: sends {@code authorization: Bearer
 * TOKEN}.
 */
public final class BearerToken extends CallCredentials {
  private final String token;

  public BearerToken(String token) {
    this.token = token.strip();
  }

  @Override
  public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
    Metadata m = new Metadata();
    m.put(AccessPolicy.AUTHORIZATION, "Bearer " + token);
    applier.apply(m);
  }

  @Override
  public String toString() {
    return "BearerToken[redacted]";
  }
}
