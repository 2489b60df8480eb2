package io.arrakis.loadtest.simulate.calibrate;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.Progress;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.concurrent.TimeUnit;

/**
 * Drives closed-loop load at a local cluster (this process is the client) and measures a window in
 * the middle of it: answered requests, the router's Compute calls and token-expert pairs, and the
 * CPU seconds of the router, the expert nodes, this process and the whole machine. The window
 * starts at the load phase's first progress report (a second in) and ends at its last, so that
 * neither the driver's setup nor the drain counts.
 */
public final class ClusterMeter {
  private static final Duration STATS_TIMEOUT = Duration.ofSeconds(10);

  private ClusterMeter() {}

  /**
   * What one window held.
   *
   * @param concurrency callers
   * @param tokens tokens per request
   * @param seconds wall-clock length
   * @param requests requests answered OK
   * @param calls Compute calls the router made
   * @param pairs token-expert pairs the router sent
   * @param routerCpu CPU seconds of the router process, its JIT compilers' excepted
   * @param nodeCpu CPU seconds of the expert node processes together, their JIT compilers' excepted
   * @param clientCpu CPU seconds of this process (the load driver), its JIT compilers' excepted
   * @param compilerCpu CPU seconds of the JIT compilers of all these processes
   * @param machineCpu CPU seconds of the whole machine, NaN where it cannot be read
   * @param failed requests that failed in the whole run
   */
  public record Window(
      int concurrency,
      int tokens,
      double seconds,
      long requests,
      long calls,
      long pairs,
      double routerCpu,
      double nodeCpu,
      double clientCpu,
      double compilerCpu,
      double machineCpu,
      long failed) {

    public double tokensPerSecond() {
      return requests * tokens / seconds;
    }

    /** CPU seconds of router, nodes and client together per answered request. */
    public double cpuPerRequest() {
      return (routerCpu + nodeCpu + clientCpu) / Math.max(1, requests);
    }

    /** The JIT compilers' share of the CPU the processes used. */
    public double compilerShare() {
      double all = routerCpu + nodeCpu + clientCpu + compilerCpu;
      return all > 0 ? compilerCpu / all : 0;
    }

    /** Whether the JIT compilers took at most {@link #QUIET_COMPILERS} of the processes' CPU. */
    public boolean compilersQuiet() {
      return compilerShare() <= QUIET_COMPILERS;
    }

    /**
     * Cores that other programs kept busy on average during the window (0 where unknown); the JIT
     * compilers count as other programs: they are no part of serving or driving load.
     */
    public double foreignCores() {
      return Double.isNaN(machineCpu)
          ? 0
          : Math.max(0, (machineCpu - routerCpu - nodeCpu - clientCpu) / seconds);
    }

    /**
     * This window and {@code other}, of the same load, as one window measured in two pieces: their
     * time, requests and CPU seconds added up.
     */
    public Window plus(Window other) {
      if (other.concurrency != concurrency || other.tokens != tokens) {
        throw new IllegalArgumentException(
            "windows of different loads: "
                + concurrency
                + " x "
                + tokens
                + " and "
                + other.concurrency
                + " x "
                + other.tokens);
      }
      return new Window(
          concurrency,
          tokens,
          seconds + other.seconds,
          requests + other.requests,
          calls + other.calls,
          pairs + other.pairs,
          routerCpu + other.routerCpu,
          nodeCpu + other.nodeCpu,
          clientCpu + other.clientCpu,
          compilerCpu + other.compilerCpu,
          machineCpu + other.machineCpu,
          failed + other.failed);
    }
  }

  private record Snapshot(
      long nanos,
      double router,
      double nodes,
      double client,
      double routerCompiling,
      double nodesCompiling,
      double clientCompiling,
      OptionalDouble machine,
      long ok,
      long calls,
      long pairs) {}

  /** How close two windows' CPU per request must be for the processes to count as settled. */
  static final double SETTLED = 0.10;

  /**
   * The most of the processes' CPU their JIT compilers may take in a settled window. Under load
   * fresh JVMs on two cores compile for a minute or more, ever less but long enough that two
   * windows agree on CPU per request while the code still runs half compiled (measured: a router
   * spending twice its settled CPU per request 40 s in, its compilers a third of it).
   */
  static final double QUIET_COMPILERS = 0.02;

  /**
   * Measures windows of {@code duration} one after another until two in a row agree on CPU per
   * request within 10% with the JIT compilers quiet in both, or {@code limit} has passed; returns
   * the last (see {@link Window#compilersQuiet}). Fresh JVMs spend CPU on compiling and settling
   * for tens of seconds, on a busy machine longer: a fixed warm-up either wastes time or falls
   * short.
   */
  public static Window measureSettled(
      LocalCluster cluster,
      float[] bias,
      int concurrency,
      int tokens,
      Duration duration,
      Duration limit,
      long seed,
      PrintWriter log)
      throws InterruptedException {
    long end = System.nanoTime() + limit.toNanos();
    Window previous = null;
    while (true) {
      Window w = measure(cluster, bias, concurrency, tokens, Duration.ZERO, duration, seed);
      log.printf(
          Locale.ROOT,
          "  settling: %,.0f tokens/s, CPU ms/request %.2f, JIT compilers %.1f%% of the CPU%n",
          w.tokensPerSecond(),
          1e3 * w.cpuPerRequest(),
          100 * w.compilerShare());
      boolean settled =
          previous != null
              && previous.compilersQuiet()
              && w.compilersQuiet()
              && Math.abs(w.cpuPerRequest() / previous.cpuPerRequest() - 1) < SETTLED;
      if (settled || System.nanoTime() - end >= 0 || w.failed() > 0) {
        return w;
      }
      previous = w;
    }
  }

  /** Runs {@code warmup} of load not measured, then {@code duration} with the window inside it. */
  public static Window measure(
      LocalCluster cluster,
      float[] bias,
      int concurrency,
      int tokens,
      Duration warmup,
      Duration duration,
      long seed)
      throws InterruptedException {
    if (duration.compareTo(Duration.ofSeconds(3)) < 0) {
      throw new IllegalArgumentException("a measured run needs at least 3 s, got " + duration);
    }
    long router = cluster.routerPid();
    List<Long> nodes = cluster.state().experts().stream().map(m -> m.process().pid()).toList();
    ClientSecurity security;
    ManagedChannel channel;
    try {
      security = cluster.security().routerClient();
      channel = security.channelBuilder(cluster.routerAddress()).build();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      long since = System.currentTimeMillis();
      Snapshot[] window = new Snapshot[2];
      Progress.Listener listener =
          p -> {
            if (p.phase().equals("load")) {
              Snapshot s = snapshot(channel, since, router, nodes, p.ok());
              if (window[0] == null) {
                window[0] = s;
              } else {
                window[1] = s;
              }
            }
          };
      LoadOptions options =
          new LoadOptions(
              cluster.routerAddress(),
              security,
              duration,
              warmup,
              concurrency,
              TokenCounts.fixed(tokens),
              List.of(),
              LoadOptions.DEFAULT_DEADLINE,
              LoadOptions.DEFAULT_POOL_SIZE,
              seed);
      LoadResult result = new ClosedLoopDriver(options, bias).run(listener);
      Snapshot a = window[0];
      Snapshot b = window[1];
      if (a == null || b == null) {
        throw new IllegalStateException("the load run reported no progress to measure between");
      }
      double routerCompiling = Math.max(0, b.routerCompiling() - a.routerCompiling());
      double nodesCompiling = Math.max(0, b.nodesCompiling() - a.nodesCompiling());
      double clientCompiling = Math.max(0, b.clientCompiling() - a.clientCompiling());
      return new Window(
          concurrency,
          tokens,
          (b.nanos() - a.nanos()) / 1e9,
          b.ok() - a.ok(),
          b.calls() - a.calls(),
          b.pairs() - a.pairs(),
          b.router() - a.router() - routerCompiling,
          b.nodes() - a.nodes() - nodesCompiling,
          b.client() - a.client() - clientCompiling,
          routerCompiling + nodesCompiling + clientCompiling,
          a.machine().isPresent() && b.machine().isPresent()
              ? b.machine().getAsDouble() - a.machine().getAsDouble()
              : Double.NaN,
          result.failed() + result.unanswered());
    } finally {
      channel.shutdownNow();
      channel.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static Snapshot snapshot(
      ManagedChannel channel, long since, long router, List<Long> nodes, long ok) {
    // the router's counts since a fixed point: their difference between two snapshots is what came
    // between
    ClusterLoad load = ClusterLoad.fetch(channel, since, STATS_TIMEOUT);
    long calls = load.nodeBatches().values().stream().mapToLong(Long::longValue).sum();
    double nodeCpu = 0;
    double nodeCompiling = 0;
    for (long pid : nodes) {
      nodeCpu += CpuClock.process(pid);
      nodeCompiling += CpuClock.compilation(pid);
    }
    return new Snapshot(
        System.nanoTime(),
        CpuClock.process(router),
        nodeCpu,
        CpuClock.self(),
        CpuClock.compilation(router),
        nodeCompiling,
        CpuClock.selfCompilation(),
        CpuClock.machine(),
        ok,
        calls,
        load.totalTokens());
  }
}
