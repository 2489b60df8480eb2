package io.arrakis.loadtest.testing;

import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.model.placement.Strategies;
import io.arrakis.model.testing.Fixtures;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * Real local clusters for tests, one at a time: asking for the running one reuses it, asking for
 * another stops it first. Starting a cluster (four JVMs) is the dearest step of these tests on a
 * two-core machine, so tests that can share one ask for the same.
 */
public final class TestClusters implements AutoCloseable {
  /**
   * Child JVMs for tests: small heaps, C1 only and the serial collector start faster and take less
   * CPU from each other (with C2, three fresh JVMs on two cores compile for a minute and more, and
   * every measurement in that time is of the compilers); tests measure correctness, not speed.
   * Under C1 the expert kernel runs its plain-Java loops, as {@code PanelMatrix} chooses.
   */
  public static final List<String> JVM_OPTIONS =
      List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

  /** Placements of the acceptance tests. */
  public enum Layout {
    CONTIGUOUS(Strategies.Kind.CONTIGUOUS, 1),
    ROUND_ROBIN(Strategies.Kind.ROUND_ROBIN, 1),
    REPLICAS_2(Strategies.Kind.CONTIGUOUS, 2);

    final Strategies.Kind kind;
    final int replicas;

    Layout(Strategies.Kind kind, int replicas) {
      this.kind = kind;
      this.replicas = replicas;
    }
  }

  /** Which cluster: a fixture model on 3 expert nodes with a layout. */
  public record Key(String fixture, Layout layout) {}

  private final Path root;
  private Key key;
  private LocalCluster current;
  private final List<CompletableFuture<Void>> stopping = new ArrayList<>();

  public TestClusters(Path root) {
    this.root = root;
  }

  /**
   * A router and two expert processes serving a whole model: one compute thread each, the experts
   * dealt contiguously, the router's metrics on {@code metricsPort}.
   */
  public static LocalCluster serving(
      Path model, Path stateDir, int metricsPort, List<String> jvmOptions)
      throws IOException, InterruptedException {
    return LocalCluster.start(
        ClusterOptions.of(model, 2, stateDir)
            .withStrategy(Strategies.Kind.CONTIGUOUS, 1)
            .withJvmOptions(jvmOptions)
            .withComputeThreads(1)
            .withMetricsPortBase(metricsPort)
            .withStartTimeout(Duration.ofSeconds(150)));
  }

  /** A port free now on this machine, for a process to listen on next. */
  public static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** Options for a 3-node cluster of a fixture, state under {@code stateDir}. */
  public static ClusterOptions options(String fixture, Layout layout, Path stateDir) {
    return ClusterOptions.of(Fixtures.dir(fixture), 3, stateDir)
        .withStrategy(layout.kind, layout.replicas)
        .withJvmOptions(JVM_OPTIONS)
        .withComputeThreads(1)
        .withStartTimeout(Duration.ofSeconds(150));
  }

  public synchronized LocalCluster get(Key k) throws IOException, InterruptedException {
    if (k.equals(key) && current != null) {
      return current;
    }
    if (current != null) {
      // the old cluster drains (seconds of idle waiting) while the new one starts
      LocalCluster old = current;
      stopping.add(CompletableFuture.runAsync(() -> stopUnchecked(old)));
      current = null;
      key = null;
    }
    Path state = root.resolve(k.fixture() + "-" + k.layout().name().toLowerCase(Locale.ROOT));
    current = LocalCluster.start(options(k.fixture(), k.layout(), state));
    key = k;
    return current;
  }

  private static void stopUnchecked(LocalCluster c) {
    try {
      c.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public synchronized void close() throws IOException {
    if (current != null) {
      current.stop();
      current = null;
      key = null;
    }
    CompletableFuture.allOf(stopping.toArray(CompletableFuture[]::new)).join();
    stopping.clear();
  }
}
