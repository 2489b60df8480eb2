package io.arrakis.router.grpc;

import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.security.AccessPolicy;
import io.arrakis.security.AccessPolicy.Credential;
import io.arrakis.security.AccessPolicy.Rule;
import io.arrakis.security.Role;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Who may call a router: the admin {@code Cluster} service only with the admin token or an admin
 * certificate (off when the router has neither), the public services with the public token or a
 * client certificate (open to anyone when the router has neither), health and reflection always.
 */
public final class RouterAccess {
  private RouterAccess() {}

  /**
   * Who may call which of the router's services.
   *
   * @param publicToken the public bearer token, or null
   * @param adminToken the admin bearer token, or null
   * @param tls whether the router serves TLS (and so takes client and admin certificates of its CA)
   */
  public static AccessPolicy policy(String publicToken, String adminToken, boolean tls) {
    List<Credential> admin = new ArrayList<>();
    if (adminToken != null) {
      admin.add(AccessPolicy.token("admin", adminToken));
    }
    List<Credential> clients = new ArrayList<>();
    if (publicToken != null) {
      clients.add(AccessPolicy.token("public", publicToken));
    }
    if (tls) {
      admin.add(AccessPolicy.certificate(Role.ADMIN));
      clients.add(AccessPolicy.certificate(Role.CLIENT));
    }
    Rule cluster =
        Rule.anyOf(
            "the admin Cluster service",
            admin,
            "this router has no admin credential (start it with --admin-token-file FILE, or --tls-dir DIR for admin certificates)");
    Rule publicApi =
        publicToken == null
            ? Rule.open("the public API")
            : Rule.anyOf("the public API", clients, "");
    return AccessPolicy.of(Map.of(ClusterGrpc.SERVICE_NAME, cluster), publicApi);
  }
}
