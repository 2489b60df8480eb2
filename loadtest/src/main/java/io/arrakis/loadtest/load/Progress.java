package io.arrakis.loadtest.load;

/**
 * A run's state, about once a second.
 *
 * @param phase "warm-up", "load", "drain", or {@link #PROMPTS} (a run of a set number of requests)
 * @param elapsedSeconds since the phase began (for {@link #PROMPTS}: requests ended)
 * @param phaseSeconds how long the phase lasts (for {@link #PROMPTS}: requests to end)
 * @param ok successful calls so far (this phase)
 * @param failed failed calls so far (this phase)
 * @param inFlight calls sent and not yet answered
 * @param tokensPerSecond over the last interval
 * @param requestsPerSecond over the last interval
 * @param p50Millis median latency of the last interval (NaN when no call ended)
 * @param p99Millis 99th percentile of the last interval (NaN when no call ended)
 */
public record Progress(
    String phase,
    double elapsedSeconds,
    double phaseSeconds,
    long ok,
    long failed,
    long inFlight,
    double tokensPerSecond,
    double requestsPerSecond,
    double p50Millis,
    double p99Millis) {
  /** The phase of a run measured by its number of requests rather than by a duration. */
  public static final String PROMPTS = "prompts";

  /** Receives progress; {@link #finish} once the run is over. */
  public interface Listener {
    void update(Progress p);

    default void finish() {}

    Listener NONE = p -> {};
  }
}
