package io.arrakis.router.plan;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Tokens sent to each expert node and not yet answered, the measure by which the planner picks
 * among replicas. Dispatchers add when they take a slice and subtract when its call ends.
 */
public final class ReplicaLoad {
  private final Map<String, AtomicLong> outstanding = new ConcurrentHashMap<>();

  public long outstanding(String nodeId) {
    AtomicLong v = outstanding.get(nodeId);
    return v == null ? 0 : v.get();
  }

  public void add(String nodeId, long tokens) {
    outstanding.computeIfAbsent(nodeId, k -> new AtomicLong()).addAndGet(tokens);
  }

  public void done(String nodeId, long tokens) {
    add(nodeId, -tokens);
  }
}
