package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.security.ClientSecurity;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine.Option;

/** The load options shared by {@code loadtest} and {@code demo}. */
final class LoadFlags {
  @Option(
      names = "--duration",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      description = "How long to send load, after the warm-up (e.g. 30s, 2m).")
  Duration duration;

  @Option(
      names = "--concurrency",
      paramLabel = "N",
      description = "Closed loop: concurrent callers, each with one call in flight.")
  Integer concurrency;

  @Option(
      names = "--tokens",
      paramLabel = "T",
      description = "Tokens per request: a count (16) or a uniform range (1-64).")
  String tokens;

  @Option(
      names = "--tokens-dist",
      paramLabel = "SPEC",
      description =
          "Tokens per request as a distribution: fixed:T or uniform:MIN-MAX (instead of --tokens).")
  String tokensDist;

  @Option(
      names = "--warmup",
      paramLabel = "DURATION",
      converter = DurationConverter.class,
      description = "Load sent first and not counted, so that every process's JIT has settled.")
  Duration warmup;

  @Option(
      names = "--deadline",
      paramLabel = "DURATION",
      defaultValue = "10s",
      converter = DurationConverter.class,
      description = "Deadline of every call (default: ${DEFAULT-VALUE}).")
  Duration deadline;

  @Option(
      names = "--layer",
      paramLabel = "L",
      defaultValue = "all",
      description = "MoE layer to send to, or all in turn (default: ${DEFAULT-VALUE}).")
  String layer;

  @Option(
      names = "--seed",
      paramLabel = "SEED",
      defaultValue = "1",
      description = "Seed of the random inputs (default: ${DEFAULT-VALUE}).")
  long seed;

  /** The options, with the command's defaults where a flag is absent. */
  LoadOptions options(
      String target,
      ClientSecurity security,
      Duration defaultDuration,
      Duration defaultWarmup,
      int defaultConcurrency,
      String defaultTokens) {
    List<Integer> layers;
    if (layer.equalsIgnoreCase("all")) {
      layers = List.of();
    } else {
      try {
        layers = List.of(Integer.parseInt(layer.trim()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "--layer must be a layer number or all, got '" + layer + "'");
      }
    }
    if (tokens != null && tokensDist != null) {
      throw new IllegalArgumentException("give --tokens or --tokens-dist, not both");
    }
    String tokenSpec = tokensDist != null ? tokensDist : tokens != null ? tokens : defaultTokens;
    return new LoadOptions(
        target,
        security,
        duration != null ? duration : defaultDuration,
        warmup != null ? warmup : defaultWarmup,
        concurrency != null ? concurrency : defaultConcurrency,
        TokenCounts.parse(tokenSpec),
        layers,
        deadline,
        LoadOptions.DEFAULT_POOL_SIZE,
        seed);
  }
}
