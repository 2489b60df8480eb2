package io.arrakis.loadtest.cluster;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a state folder records about its cluster, so that later commands (status, down) find the
 * processes that an earlier command started.
 *
 * @param model the model directory served
 * @param startedMillis when the cluster was started (Unix ms)
 * @param security how its gRPC is secured, so that later commands reach it as it expects
 * @param router the router; null while the expert nodes are still starting
 * @param experts the expert nodes, in placement order
 */
public record ClusterState(
    Path model, long startedMillis, ClusterSecurity security, Member router, List<Member> experts) {
  public ClusterState {
    security = security == null ? ClusterSecurity.PLAINTEXT : security;
    experts = List.copyOf(experts);
  }

  /** Router first, then the expert nodes. */
  public List<Member> members() {
    List<Member> all = new ArrayList<>();
    if (router != null) {
      all.add(router);
    }
    all.addAll(experts);
    return all;
  }

  public ClusterState withRouter(Member r) {
    return new ClusterState(model, startedMillis, security, r, experts);
  }

  public ClusterState withExperts(List<Member> e) {
    return new ClusterState(model, startedMillis, security, router, e);
  }

  /** The members whose process still runs. */
  public List<Member> alive() {
    return members().stream().filter(m -> m.process().alive()).toList();
  }
}
