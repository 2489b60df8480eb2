package io.arrakis.loadtest.cluster;

import io.arrakis.security.ClientSecurity;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Each process of a recorded cluster: does it run, does it answer SERVING. */
public record ClusterStatus(ClusterState state, List<MemberStatus> members) {
  private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(3);

  /** One process and what was found. */
  public record MemberStatus(Member member, boolean alive, boolean serving) {}

  public ClusterStatus {
    members = List.copyOf(members);
  }

  /**
   * Checks every process now, all at once: a health call each (over TLS with the cluster's client
   * certificate where it uses TLS), bounded by a few seconds (the first call of a fresh JVM, on a
   * busy machine, can take more than one).
   */
  public static ClusterStatus probe(ClusterState state) throws IOException {
    ClientSecurity security = state.security().nodeClient();
    Map<Member, HealthProbe> probes = new LinkedHashMap<>();
    // a thread per process: the common pool has a single worker on a two-core machine
    ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, state.members().size()));
    try {
      for (Member m : state.members()) {
        if (m.process().alive() && m.port() > 0) {
          probes.put(m, new HealthProbe(LocalCluster.HOST, m.port(), security));
        }
      }
      List<CompletableFuture<MemberStatus>> checks = new ArrayList<>();
      for (Member m : state.members()) {
        HealthProbe probe = probes.get(m);
        checks.add(
            CompletableFuture.supplyAsync(
                () ->
                    new MemberStatus(
                        m, m.process().alive(), probe != null && probe.serving(PROBE_TIMEOUT)),
                pool));
      }
      return new ClusterStatus(state, checks.stream().map(CompletableFuture::join).toList());
    } finally {
      pool.shutdownNow();
      probes.values().forEach(HealthProbe::close);
    }
  }

  public MemberStatus router() {
    return members.stream()
        .filter(s -> s.member().id().equals(LocalCluster.ROUTER_ID))
        .findFirst()
        .orElse(null);
  }

  public List<MemberStatus> experts() {
    return members.stream().filter(s -> !s.member().id().equals(LocalCluster.ROUTER_ID)).toList();
  }

  public boolean allServing() {
    return state.router() != null && members.stream().allMatch(MemberStatus::serving);
  }

  public List<MemberStatus> dead() {
    return members.stream().filter(s -> !s.alive()).toList();
  }
}
