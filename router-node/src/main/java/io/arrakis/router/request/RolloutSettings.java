package io.arrakis.router.request;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * How long placement rollouts may take ({@code arrakis.router.rollout}).
 *
 * @param timeout a whole rollout, expert nodes loading their new experts included (each LoadExperts
 *     call gets this deadline); whoever asks for a rollout waits this long plus {@link #ANSWER_MARGIN}
 * @param unloadTimeout each UnloadExperts call once an old placement retires
 */
public record RolloutSettings(Duration timeout, Duration unloadTimeout) {
  /** How much longer than the rollout timeout an asker waits, so that the router's own answer arrives first. */
  public static final Duration ANSWER_MARGIN = Duration.ofSeconds(10);

  public RolloutSettings {
    if (timeout.isNegative() || timeout.isZero() || unloadTimeout.isNegative() || unloadTimeout.isZero()) {
      throw new IllegalArgumentException("rollout timeouts must be positive");
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
