package io.arrakis.loadtest.load;

/**
 * One second (about) of a run, for charts of throughput and latency over time.
 *
 * @param seconds end of the interval, seconds since the measured phase began
 * @param intervalSeconds its length
 * @param ok calls that succeeded in it
 * @param failed calls that failed in it
 * @param tokens tokens of the successful calls
 * @param p50Millis median latency (NaN without calls)
 * @param p99Millis 99th percentile (NaN without calls)
 */
public record TimelinePoint(
    double seconds,
    double intervalSeconds,
    long ok,
    long failed,
    long tokens,
    double p50Millis,
    double p99Millis) {}
