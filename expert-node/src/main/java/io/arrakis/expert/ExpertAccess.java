package io.arrakis.expert;

import io.arrakis.security.AccessPolicy;
import io.arrakis.security.AccessPolicy.Rule;
import io.arrakis.security.Role;
import java.util.List;
import java.util.Map;

/**
 * Who may call an expert node serving TLS: routers only (a router certificate of the cluster CA),
 * for every Expert call (Compute, Describe, LoadExperts, UnloadExperts): a client or admin
 * certificate of the same CA gets PERMISSION_DENIED. Health checks and reflection stay open.
 */
public final class ExpertAccess {
  private ExpertAccess() {}

  public static AccessPolicy routersOnly() {
    return AccessPolicy.of(
        Map.of(),
        Rule.anyOf("the Expert service", List.of(AccessPolicy.certificate(Role.ROUTER)), ""));
  }
}
