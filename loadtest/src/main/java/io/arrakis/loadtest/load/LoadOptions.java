package io.arrakis.loadtest.load;

import io.arrakis.security.ClientSecurity;
import java.time.Duration;
import java.util.List;

/**
 * A closed-loop load run.
 *
 * @param target router host:port
 * @param security how to reach it: plaintext or TLS, and a bearer token
 * @param duration how long calls are sent (after the warm-up)
 * @param warmup calls sent before, not counted (lets the JITs of every process settle)
 * @param concurrency callers, each with one call in flight
 * @param tokens tokens per request
 * @param layers layers to send to in turn; empty = every MoE layer of the model
 * @param deadline the deadline of every call
 * @param poolSize distinct requests prepared up front
 * @param seed random seed of the inputs
 */
public record LoadOptions(
    String target,
    ClientSecurity security,
    Duration duration,
    Duration warmup,
    int concurrency,
    TokenCounts tokens,
    List<Integer> layers,
    Duration deadline,
    int poolSize,
    long seed) {

  public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);
  public static final int DEFAULT_POOL_SIZE = 256;

  public LoadOptions {
    if (target == null || !target.contains(":")) {
      throw new IllegalArgumentException("target must be HOST:PORT, got " + target);
    }
    if (duration.isNegative() || duration.isZero()) {
      throw new IllegalArgumentException("duration must be positive, got " + duration);
    }
    if (warmup.isNegative()) {
      throw new IllegalArgumentException("warm-up must not be negative, got " + warmup);
    }
    if (concurrency < 1) {
      throw new IllegalArgumentException("concurrency must be at least 1, got " + concurrency);
    }
    if (deadline.isNegative() || deadline.isZero()) {
      throw new IllegalArgumentException("deadline must be positive, got " + deadline);
    }
    if (poolSize < 1) {
      throw new IllegalArgumentException("pool size must be at least 1, got " + poolSize);
    }
    security = security == null ? ClientSecurity.PLAINTEXT : security;
    layers = List.copyOf(layers);
  }

  public static LoadOptions of(
      String target, Duration duration, int concurrency, TokenCounts tokens) {
    return new LoadOptions(
        target,
        ClientSecurity.PLAINTEXT,
        duration,
        Duration.ZERO,
        concurrency,
        tokens,
        List.of(),
        DEFAULT_DEADLINE,
        DEFAULT_POOL_SIZE,
        1);
  }

  /** The same run against another router. */
  public LoadOptions withTarget(String t, ClientSecurity s) {
    return new LoadOptions(
        t, s, duration, warmup, concurrency, tokens, layers, deadline, poolSize, seed);
  }

  public LoadOptions withDuration(Duration d) {
    return new LoadOptions(
        target, security, d, warmup, concurrency, tokens, layers, deadline, poolSize, seed);
  }

  public LoadOptions withWarmup(Duration w) {
    return new LoadOptions(
        target, security, duration, w, concurrency, tokens, layers, deadline, poolSize, seed);
  }

  public LoadOptions withLayers(List<Integer> l) {
    return new LoadOptions(
        target, security, duration, warmup, concurrency, tokens, l, deadline, poolSize, seed);
  }

  public LoadOptions withDeadline(Duration d) {
    return new LoadOptions(
        target, security, duration, warmup, concurrency, tokens, layers, d, poolSize, seed);
  }
}
