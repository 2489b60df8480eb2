package io.arrakis.router.request;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * How long placement rollouts may take ({@code arrakis.router.rollout}).
 *
 * @param timeout a whole rollout, expert nodes loading their new experts included (each LoadExperts
 *     call gets this deadline); whoever asks for a rollout waits this long plus {@link
 *     #ANSWER_MARGIN}
 * @param unloadTimeout each UnloadExperts call once an old placement retires
 */
public record RolloutSettings(Duration timeout, Duration unloadTimeout) {
  /**
   * How much longer than the rollout timeout an asker waits, so that the router's own answer
   * arrives first.
   */
  public static final Duration ANSWER_MARGIN = Duration.ofSeconds(10);

  /**
   * The longest either timeout may be (far beyond any rollout, far below what Pekko's scheduler
   * takes).
   */
  public static final Duration MAX_TIMEOUT = Duration.ofDays(1);

  public RolloutSettings {
    for (Duration d : new Duration[] {timeout, unloadTimeout}) {
      if (d.isNegative() || d.isZero() || d.compareTo(MAX_TIMEOUT) > 0) {
        throw new IllegalArgumentException(
            "arrakis.router.rollout timeouts must be positive and at most "
                + MAX_TIMEOUT
                + ", got "
                + d);
      }
    }
  }

  public static RolloutSettings from(Config root) {
    Config c = root.getConfig("arrakis.router.rollout");
    return new RolloutSettings(c.getDuration("timeout"), c.getDuration("unload-timeout"));
  }

  /** How long someone asking for a rollout waits for the router's answer. */
  public Duration answerWithin() {
    return timeout.plus(ANSWER_MARGIN);
  }
}
