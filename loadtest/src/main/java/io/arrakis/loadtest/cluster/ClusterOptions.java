package io.arrakis.loadtest.cluster;

import io.arrakis.model.placement.Strategies;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/**
 * What {@link LocalCluster#start} starts.
 *
 * @param model model directory served by every process
 * @param nodes expert nodes; null with a placement file (the file says how many)
 * @param replicas distinct nodes holding each expert (strategy placements only)
 * @param strategy how experts are dealt out when no placement file is given
 * @param placementFile a placement to use instead of a strategy; its addresses are replaced
 * @param routerPort the router's gRPC port, 0 = any free port
 * @param metricsPortBase router metrics on this port, expert node i on base + 1 + i; 0 = off
 * @param computeThreads compute threads per expert node; null = the node's default (one per core)
 * @param stateDir where the state file, placements, port files and logs go
 * @param jvmOptions options for every child JVM (e.g. -Xmx1g)
 * @param startTimeout how long all processes together may take to report SERVING
 * @param stopGrace how long processes get after SIGTERM before SIGKILL
 * @param security plaintext or TLS, and the router's bearer token
 * @param httpPort the router's OpenAI-compatible HTTP API port, 0 = any free port, -1 = off
 */
public record ClusterOptions(
    Path model,
    Integer nodes,
    int replicas,
    Strategies.Kind strategy,
    Path placementFile,
    int routerPort,
    int metricsPortBase,
    Integer computeThreads,
    Path stateDir,
    List<String> jvmOptions,
    Duration startTimeout,
    Duration stopGrace,
    ClusterSecurity security,
    int httpPort) {

  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofMinutes(2);
  public static final Duration DEFAULT_STOP_GRACE = Duration.ofSeconds(15);

  /** Heap and, through JavaCPP's default, the native-memory cap of each child JVM. */
  public static final List<String> DEFAULT_JVM_OPTIONS = List.of("-Xmx1g");

  public ClusterOptions {
    if (model == null || stateDir == null) {
      throw new IllegalArgumentException("a cluster needs a model directory and a state directory");
    }
    if (placementFile == null && (nodes == null || nodes < 1)) {
      throw new IllegalArgumentException("--nodes must be at least 1, got " + nodes);
    }
    if (replicas < 1) {
      throw new IllegalArgumentException("--replicas must be at least 1, got " + replicas);
    }
    if (placementFile != null && replicas != 1) {
      throw new IllegalArgumentException(
          "--replicas applies to strategies; a placement file says the replicas itself");
    }
    if (nodes != null && replicas > nodes) {
      throw new IllegalArgumentException(
          "--replicas "
              + replicas
              + " needs at least "
              + replicas
              + " nodes, got --nodes "
              + nodes);
    }
    if (routerPort < 0 || routerPort > 65535) {
      throw new IllegalArgumentException("--port must be in 0..65535, got " + routerPort);
    }
    if (httpPort < -1 || httpPort > 65535) {
      throw new IllegalArgumentException(
          "--http-port must be in 0..65535 (or -1: off), got " + httpPort);
    }
    if (metricsPortBase < 0 || metricsPortBase > 65000) {
      throw new IllegalArgumentException(
          "metrics port base must be in 0..65000, got " + metricsPortBase);
    }
    if (computeThreads != null && computeThreads < 1) {
      throw new IllegalArgumentException(
          "compute threads must be at least 1, got " + computeThreads);
    }
    strategy = strategy == null ? Strategies.Kind.CONTIGUOUS : strategy;
    jvmOptions = List.copyOf(jvmOptions == null ? DEFAULT_JVM_OPTIONS : jvmOptions);
    startTimeout = startTimeout == null ? DEFAULT_START_TIMEOUT : startTimeout;
    stopGrace = stopGrace == null ? DEFAULT_STOP_GRACE : stopGrace;
    security = security == null ? ClusterSecurity.PLAINTEXT : security;
  }

  /** N nodes, contiguous, one replica, router on any free port, default timeouts, plaintext. */
  public static ClusterOptions of(Path model, int nodes, Path stateDir) {
    return new ClusterOptions(
        model,
        nodes,
        1,
        Strategies.Kind.CONTIGUOUS,
        null,
        0,
        0,
        null,
        stateDir,
        null,
        null,
        null,
        ClusterSecurity.PLAINTEXT,
        0);
  }

  public ClusterOptions withStrategy(Strategies.Kind kind, int replicas) {
    return with(
        b -> {
          b.strategy = kind;
          b.replicas = replicas;
        });
  }

  public ClusterOptions withRouterPort(int port) {
    return with(b -> b.routerPort = port);
  }

  /** Prometheus metrics: the router's on {@code base}, expert node i's on base + 1 + i; 0 = off. */
  public ClusterOptions withMetricsPortBase(int base) {
    return with(b -> b.metricsPortBase = base);
  }

  public ClusterOptions withJvmOptions(List<String> options) {
    return with(b -> b.jvmOptions = options);
  }

  public ClusterOptions withComputeThreads(Integer threads) {
    return with(b -> b.computeThreads = threads);
  }

  public ClusterOptions withStartTimeout(Duration timeout) {
    return with(b -> b.startTimeout = timeout);
  }

  public ClusterOptions withSecurity(ClusterSecurity s) {
    return with(b -> b.security = s);
  }

  /** The router's HTTP API port: 0 = any free port, -1 = off. */
  public ClusterOptions withHttpPort(int port) {
    return with(b -> b.httpPort = port);
  }

  /** A copy with {@code change} applied, checked as every instance is. */
  private ClusterOptions with(Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return new ClusterOptions(
        b.model,
        b.nodes,
        b.replicas,
        b.strategy,
        b.placementFile,
        b.routerPort,
        b.metricsPortBase,
        b.computeThreads,
        b.stateDir,
        b.jvmOptions,
        b.startTimeout,
        b.stopGrace,
        b.security,
        b.httpPort);
  }

  /** The components of an instance, to change some before making a new one. */
  private static final class Copy {
    Path model;
    Integer nodes;
    int replicas;
    Strategies.Kind strategy;
    Path placementFile;
    int routerPort;
    int metricsPortBase;
    Integer computeThreads;
    Path stateDir;
    List<String> jvmOptions;
    Duration startTimeout;
    Duration stopGrace;
    ClusterSecurity security;
    int httpPort;

    Copy(ClusterOptions o) {
      model = o.model;
      nodes = o.nodes;
      replicas = o.replicas;
      strategy = o.strategy;
      placementFile = o.placementFile;
      routerPort = o.routerPort;
      metricsPortBase = o.metricsPortBase;
      computeThreads = o.computeThreads;
      stateDir = o.stateDir;
      jvmOptions = o.jvmOptions;
      startTimeout = o.startTimeout;
      stopGrace = o.stopGrace;
      security = o.security;
      httpPort = o.httpPort;
    }
  }
}
