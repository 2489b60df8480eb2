package io.arrakis.loadtest.load;

import io.arrakis.security.ClientSecurity;
import io.grpc.Status;

/**
 * The likely fix when a router turns a client away: a plaintext client reaching a TLS router sees
 * only UNAVAILABLE, and a router that wants a token says UNAUTHENTICATED (its admin service also
 * PERMISSION_DENIED to a credential that is not the admin's); each means a missing flag.
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

  /** As {@link #of}, for a call to the router's admin Cluster service. */
  public static String admin(Status status, ClientSecurity security) {
    boolean refused =
        status.getCode() == Status.Code.UNAUTHENTICATED
            || status.getCode() == Status.Code.PERMISSION_DENIED;
    if (refused && security.adminTokenFile() == null) {
      return "; the router's Cluster service takes its admin token: give --admin-token-file FILE "
          + "(or an admin certificate with --tls-cert/--tls-key)";
    }
    return status.getCode() == Status.Code.UNAVAILABLE ? of(status, security) : "";
  }
}
