package io.arrakis.router;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/** Reads the router's meters in tests. */
final class Meters {
  private Meters() {}

  /** The sum of every gauge named {@code name} (all tags); 0 when there is none. */
  static double gauge(MeterRegistry registry, String name) {
    return registry.find(name).gauges().stream().mapToDouble(Gauge::value).sum();
  }

  /** How many gauges named {@code name} are registered (one per node for per-node gauges). */
  static int gauges(MeterRegistry registry, String name) {
    return registry.find(name).gauges().size();
  }
}
