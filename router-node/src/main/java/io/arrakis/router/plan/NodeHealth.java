package io.arrakis.router.plan;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which expert nodes are out of rotation: failing their health checks, draining (NOT_SERVING) or
 * just failed a call. The planner sends new work only to nodes in rotation while a replica in
 * rotation exists (and otherwise the best of those out of it). Nodes are in rotation until
 * something says otherwise.
 */
public final class NodeHealth {
  private final Set<String> down = ConcurrentHashMap.newKeySet();

  public boolean inRotation(String nodeId) {
    return !down.contains(nodeId);
  }

  /**
   * Takes {@code nodeId} out of rotation.
   *
   * @return whether this changed the node's state
   */
  public boolean markDown(String nodeId) {
    return down.add(nodeId);
  }

  /**
   * Puts {@code nodeId} back in rotation.
   *
   * @return whether this changed the node's state
   */
  public boolean markUp(String nodeId) {
    return down.remove(nodeId);
  }
}
