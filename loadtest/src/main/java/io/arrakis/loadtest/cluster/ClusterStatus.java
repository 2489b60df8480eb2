package io.arrakis.loadtest.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
   * Checks every process now, all at once: a health call each, bounded by a few seconds (the first
   * call of a fresh JVM, on a busy machine, can take more than one).
   */
  public static ClusterStatus probe(ClusterState state) {
    // a thread per process: the common pool has a single worker on a two-core machine
    ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, state.members().size()));
    try {
      List<CompletableFuture<MemberStatus>> checks = new ArrayList<>();
      for (Member m : state.members()) {
        checks.add(CompletableFuture.supplyAsync(() -> check(m), pool));
      }
      return new ClusterStatus(state, checks.stream().map(CompletableFuture::join).toList());
    } finally {
      pool.shutdownNow();
    }
  }

  private static MemberStatus check(Member m) {
    boolean alive = m.process().alive();
    boolean serving = false;
    if (alive && m.port() > 0) {
      try (HealthProbe probe = new HealthProbe(LocalCluster.HOST, m.port())) {
        serving = probe.serving(PROBE_TIMEOUT);
      }
    }
    return new MemberStatus(m, alive, serving);
  }

  public MemberStatus router() {
    return members.stream().filter(s -> s.member().id().equals(LocalCluster.ROUTER_ID)).findFirst().orElse(null);
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
