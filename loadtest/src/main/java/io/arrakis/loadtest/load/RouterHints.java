package io.arrakis.loadtest.load;

import io.arrakis.security.ClientSecurity;
import io.grpc.Status;

/**
 * The likely fix when a router turns a client away: a plaintext client reaching a TLS router sees
 * only UNAVAILABLE, and a router that wants a token says UNAUTHENTICATED; both mean a missing flag.
 */
public final class RouterHints {
  private RouterHints() {}

  /** "; if the router serves TLS, give --tls-ca FILE" and the like, or "" where nothing fits. */
  public static String of(Status status, ClientSecurity security) {
    if (status.getCode() == Status.Code.UNAVAILABLE && !security.tls()) {
      return "; if the router serves TLS, give --tls-ca FILE (its CA certificate)";
    }
    if (status.getCode() == Status.Code.UNAUTHENTICATED && security.tokenFile() == null) {
      return "; the router wants a bearer token: give --auth-token-file FILE";
    }
    return "";
  }
}
