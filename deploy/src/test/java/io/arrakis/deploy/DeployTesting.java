package io.arrakis.deploy;

import io.arrakis.model.placement.Placement;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Small helpers of the Kubernetes tests. */
final class DeployTesting {
  private DeployTesting() {}

  /**
   * A strategy's placement (nodes expert-0..) on pods arrakis-expert-0.., without addresses, as it
   * is published.
   */
  static Placement onPods(long version, Placement p) {
    return new Placement(
        version,
        p.nodes().stream()
            .map(
                n ->
                    new Placement.Node(
                        n.id().replace("expert-", "arrakis-expert-"), null, n.experts()))
            .toList());
  }

  /**
   * Waits, polling every 50 ms, until {@code condition} holds; fails naming {@code what} after
   * {@code timeout}.
   */
  static void eventually(String what, Duration timeout, BooleanSupplier condition)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
      }
      Thread.sleep(50);
    }
  }
}
