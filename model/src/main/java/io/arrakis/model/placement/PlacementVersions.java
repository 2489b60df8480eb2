package io.arrakis.model.placement;

import java.util.Optional;

/**
 * The rules for placement versions. Routers switch to a placement only when its version is newer
 * than the one in force, so a version far ahead would block every later rollout (a placement with
 * version 2^63 - 1 leaves no newer one). Hence:
 *
 * <ul>
 *   <li>a version is an integer from 0 to {@link #MAX} = 2^53 - 1, the largest that every JSON tool
 *       (jq, JavaScript, kubectl's own JSON paths) reads exactly: placements live in JSON files and
 *       a ConfigMap, and two versions that a tool rounds to one number would look alike;
 *   <li>a rollout may move the version ahead by at most {@link #MAX_STEP} = 2^32 (4,294,967,296):
 *       room for counters, dates (20250101) and epoch seconds as versions, while reaching the
 *       ceiling from 0 takes more than two million rollouts, each as far ahead as allowed.
 * </ul>
 *
 * The placement controller and {@code placement apply} step by 1.
 */
public final class PlacementVersions {
  /** The largest placement version, 2^53 - 1. */
  public static final long MAX = (1L << 53) - 1;

  /** The largest step from the version in force to the next, 2^32. */
  public static final long MAX_STEP = 1L << 32;

  private PlacementVersions() {}

  /**
   * Checks that {@code version} is a placement version.
   *
   * @throws IllegalArgumentException naming the range when {@code version} is outside 0..{@link
   *     #MAX}
   */
  public static void checkRange(long version) {
    if (version < 0 || version > MAX) {
      throw new IllegalArgumentException(
          "placement version "
              + version
              + " is out of range: versions are 0 to "
              + MAX
              + " (2^53 - 1, the largest integer JSON tools read exactly)");
    }
  }

  /**
   * Why a router with {@code current} in force must not switch to {@code next}; empty when it may.
   */
  public static Optional<String> refusal(long current, long next) {
    if (next <= current) {
      return Optional.of(
          "placement version " + next + " is not newer than the current version " + current);
    }
    if (next - current > MAX_STEP) {
      return Optional.of(
          "placement version "
              + next
              + " is more than "
              + MAX_STEP
              + " (2^32) ahead of the current version "
              + current
              + ": a rollout may move the version ahead by at most that, so that no placement can use up "
              + "the versions left for later rollouts (the next version here may be up to "
              + (current + MAX_STEP)
              + ")");
    }
    return Optional.empty();
  }
}
