package io.arrakis.engine.generate;

import java.util.Optional;

/** Receives a sequence's tokens as they are chosen. */
@FunctionalInterface
public interface TokenListener {
  /**
   * Called with each new token; returns empty to go on, or why the sequence ends here (a stop
   * string seen in its text: {@link FinishReason#STOP}; the client went away: {@link
   * FinishReason#CANCELLED}).
   */
  Optional<FinishReason> onToken(int token);

  TokenListener NONE = t -> Optional.empty();
}
