package io.arrakis.model.placement.planner;

import java.util.Locale;

/** How the planner lays experts out. */
public enum Strategy {
  /** Each node a consecutive block of experts per layer, one copy each; needs no loads. */
  CONTIGUOUS,
  /** Experts dealt out one by one per layer, one copy each; needs no loads. */
  ROUND_ROBIN,
  /**
   * Hot experts replicated into spare slots, replicas spread so the most loaded node carries least.
   */
  BALANCED;

  public static Strategy parse(String s) {
    return switch (s.trim().toLowerCase(Locale.ROOT)) {
      case "contiguous" -> CONTIGUOUS;
      case "round-robin", "roundrobin", "round_robin" -> ROUND_ROBIN;
      case "balanced" -> BALANCED;
      default ->
          throw new IllegalArgumentException(
              "unknown strategy '" + s + "': expected contiguous, round-robin or balanced");
    };
  }

  /** The command-line spelling. */
  public String label() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
