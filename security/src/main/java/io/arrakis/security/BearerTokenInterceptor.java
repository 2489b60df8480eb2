package io.arrakis.security;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthGrpc;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;

/**
 * Requires {@code authorization: Bearer TOKEN} on every call except health checks and reflection
 * (probes and tooling carry no token). Tokens are compared in constant time and never logged.
 */
public final class BearerTokenInterceptor implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Set<String> OPEN_SERVICES = Set.of(
      HealthGrpc.SERVICE_NAME, "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection");

  private final byte[] expected;

  public BearerTokenInterceptor(String token) {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("the bearer token must not be empty");
    }
    this.expected = ("Bearer " + token.strip()).getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    if (OPEN_SERVICES.contains(call.getMethodDescriptor().getServiceName())) {
      return next.startCall(call, headers);
    }
    String given = headers.get(AUTHORIZATION);
    if (given == null) {
      call.close(Status.UNAUTHENTICATED.withDescription("missing 'authorization: Bearer <token>' header"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    if (!MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8))) {
      call.close(Status.UNAUTHENTICATED.withDescription("invalid bearer token"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    return next.startCall(call, headers);
  }
}
