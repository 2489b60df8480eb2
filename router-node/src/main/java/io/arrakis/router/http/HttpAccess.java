package io.arrakis.router.http;

import io.arrakis.security.Role;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import javax.net.ssl.SSLSession;

/**
 * Who may call the HTTP API, as for the router's public gRPC services: with a public bearer token,
 * {@code Authorization: Bearer TOKEN} or (over TLS) a client certificate of the cluster CA; without
 * one, anyone. Tokens are compared in constant time and never echoed. {@code /health} is always
 * open.
 */
public final class HttpAccess {
  private static final String BEARER = "Bearer ";
  private final byte[] expected;
  private final boolean tls;

  private HttpAccess(byte[] expected, boolean tls) {
    this.expected = expected;
    this.tls = tls;
  }

  /**
   * Who may call the HTTP API.
   *
   * @param publicToken the public bearer token, or null: open to anyone
   * @param tls whether the API is served over TLS (a client certificate then also identifies a
   *     caller)
   */
  public static HttpAccess of(String publicToken, boolean tls) {
    if (publicToken != null && publicToken.isBlank()) {
      throw new IllegalArgumentException("the public bearer token must not be empty");
    }
    return new HttpAccess(
        publicToken == null
            ? null
            : (BEARER + publicToken.strip()).getBytes(StandardCharsets.UTF_8),
        tls);
  }

  public static HttpAccess open() {
    return new HttpAccess(null, false);
  }

  /**
   * @param authorization the Authorization header, or null
   * @param session the TLS session, or null over plaintext
   */
  void check(String authorization, SSLSession session) throws ApiError {
    if (expected == null) {
      return;
    }
    if (authorization != null
        && MessageDigest.isEqual(expected, authorization.getBytes(StandardCharsets.UTF_8))) {
      return;
    }
    Optional<Role> peer = tls && session != null ? Role.ofPeer(session) : Optional.empty();
    if (peer.isPresent() && peer.get() == Role.CLIENT) {
      return;
    }
    String takes =
        "the API takes the public token ('Authorization: Bearer <token>')"
            + (tls ? " or a client certificate (mutual TLS)" : "");
    throw ApiError.unauthorized(
        authorization == null ? "missing credentials: " + takes : "invalid bearer token: " + takes);
  }
}
