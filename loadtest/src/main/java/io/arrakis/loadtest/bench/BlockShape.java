package io.arrakis.loadtest.bench;

import picocli.CommandLine.Option;

/** The MoE block a benchmark runs: shared by {@code bench kernel} and {@code bench cluster}. */
public final class BlockShape {
  @Option(
      names = "--hidden",
      paramLabel = "D",
      defaultValue = "1024",
      description = "Hidden size (default: ${DEFAULT-VALUE}).")
  public int hidden;

  @Option(
      names = "--ffn",
      paramLabel = "F",
      defaultValue = "3584",
      description = "Expert FFN size (default: ${DEFAULT-VALUE}).")
  public int ffn;

  @Option(
      names = "--experts",
      paramLabel = "E",
      defaultValue = "8",
      description = "Experts (default: ${DEFAULT-VALUE}).")
  public int experts;

  @Option(
      names = "--top-k",
      paramLabel = "K",
      defaultValue = "2",
      description = "Experts per token (default: ${DEFAULT-VALUE}).")
  public int topK;
}
