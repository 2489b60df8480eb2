package io.arrakis.loadtest.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.cluster.ClusterOptions;
import io.arrakis.loadtest.cluster.CpuPinning;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Member;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.ClusterLoad;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.Progress;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.loadtest.testing.TestClusters.Layout;
import io.arrakis.model.synthetic.GeneratorOptions;
import io.arrakis.model.synthetic.SyntheticModelGenerator;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.telemetry.testing.Scrape;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 5's acceptance under real processes (router + 3 expert nodes, loopback gRPC): overload,
 * kill -9 without and with replicas, and a rolling restart, all with load running. Two clusters,
 * one after the other: one replica of a synthetic model with heavier experts and a fixed admission
 * limit (overload, then the kill that loses experts), then two replicas of the mixtral-tiny fixture
 * (kill and restart, rolling restart).
 *
 * <p>Set {@code -Darrakis.bench.results=DIR} (e.g. {@code bench/results}) to have the overload
 * figures written to {@code DIR/overload.json}; they are always printed.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChaosAcceptanceTest {
  /**
   * The one-replica cluster's model: experts heavy enough that computing a request costs far more
   * than refusing one, as in the deployments admission control is for (with the 64-wide fixture a
   * request costs the router and this client about as much to refuse as the experts to compute, so
   * 3x "capacity" would only measure how the 2 shared cores drown in gRPC calls). Its processes run
   * C1 ({@link TestClusters#JVM_OPTIONS}), so the experts compute with the plain-Java kernel: about
   * 1.2 s for a request with 8 in flight, against a few ms to refuse one.
   */
  private static final GeneratorOptions OVERLOAD_MODEL =
      new GeneratorOptions(2, 8, 256, 2048, 2, true, false, 0.0, 11);

  private static final List<Integer> LAYERS = List.of(0, 1);
  private static final Duration DEADLINE = Duration.ofSeconds(10);
  private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);

  /**
   * Tokens per request under overload, and the router's fixed admission limit (8 such requests).
   */
  private static final int OVERLOAD_TOKENS = 64;

  private static final int ADMISSION_LIMIT = 8 * OVERLOAD_TOKENS;

  /** Overload windows (each followed by a capacity window) and their lengths: 30 s of overload. */
  private static final int OVERLOAD_WINDOWS = 3;

  private static final Duration OVERLOAD_WINDOW = Duration.ofSeconds(10);
  private static final Duration CAPACITY_WINDOW = Duration.ofSeconds(4);

  /** The bound on rejection latency ("well under 50 ms"), and ours on their median. */
  private static final double REJECTION_P99_MS = 50;

  private static final double REJECTION_P50_MS = 10;

  /**
   * Health checks slower than this at p99 mean the machine itself is starved for CPU (the CI box
   * has 2 cores shared by 5 JVMs and the build): see {@link
   * #overloadAtThreeTimesCapacityIsShedFast}.
   */
  private static final double STARVED_HEALTH_P99_MS = 25;

  private final Path root = Path.of("target", "chaos-tests").toAbsolutePath();

  /** This machine's CPUs, read before the overload test pins this JVM to fewer. */
  private final int machineCpus = Runtime.getRuntime().availableProcessors();

  private LocalCluster single;
  private int routerMetricsPort;
  private LocalCluster replicated;
  private CompletableFuture<?> stoppingSingle = CompletableFuture.completedFuture(null);

  @BeforeAll
  void startSingle() throws Exception {
    Path model = root.resolve("overload-model");
    SyntheticModelGenerator.generate(model, OVERLOAD_MODEL);
    ClusterOptions o =
        ClusterOptions.of(model, 3, root.resolve("single"))
            .withJvmOptions(TestClusters.JVM_OPTIONS)
            .withComputeThreads(1)
            .withStartTimeout(Duration.ofSeconds(150))
            .withMetricsPortBase(freeMetricsPorts());
    single =
        LocalCluster.start(
            o, Map.of("ARRAKIS_MAX_INFLIGHT_TOKENS", Integer.toString(ADMISSION_LIMIT)));
    routerMetricsPort = o.metricsPortBase();
    pinExpertNodesToTheLastCpu(single);
  }

  @AfterAll
  void stopAll() throws Exception {
    if (single != null) {
      single.stop();
    }
    stoppingSingle.join();
    if (replicated != null) {
      replicated.stop();
    }
  }

  private LocalCluster replicated() throws Exception {
    if (replicated == null) {
      // the one-replica cluster drains (idle waiting) while this one starts
      LocalCluster old = single;
      single = null;
      if (old != null) {
        stoppingSingle =
            CompletableFuture.runAsync(
                () -> {
                  try {
                    old.stop();
                  } catch (Exception e) {
                    throw new RuntimeException(e);
                  }
                });
      }
      replicated =
          LocalCluster.start(
              TestClusters.options(
                  Fixtures.MIXTRAL_TINY, Layout.REPLICAS_2, root.resolve("replicas-2")));
    }
    return replicated;
  }

  /**
   * Gives the expert nodes a CPU of their own, as they have their own machines in a deployment: the
   * overload test asks whether refusing 2/3 of the calls costs the admitted ones throughput, and
   * with router, load generator and experts sharing two cores every refusal's CPU would come out of
   * the experts' (goodput fell to 0.7-0.9x capacity when another process kept a core busy). The
   * overload test keeps the router and itself off that CPU ({@link #keepOffTheExpertsCpu}). On one
   * core there is nothing to give; without taskset (util-linux) the nodes stay unpinned.
   */
  private static void pinExpertNodesToTheLastCpu(LocalCluster c)
      throws IOException, InterruptedException {
    if (!CpuPinning.available()) {
      System.out.println(
          "[overload] expert nodes not pinned (" + CpuPinning.unavailableBecause() + ")");
      return;
    }
    int cpus = Runtime.getRuntime().availableProcessors();
    String cpu = Integer.toString(cpus - 1);
    for (Member m : c.state().experts()) {
      CpuPinning.pin(m.process().pid(), cpu);
    }
    System.out.println("[overload] expert nodes pinned to CPU " + cpu);
  }

  /**
   * The router and this JVM (the load generator) on every CPU but the experts' one, or (restore) on
   * every CPU. Unpinned, the scheduler moves their threads onto the experts' CPU whenever the other
   * one is busy, so the overload phase (refusals and 100 health checks a second on top of the
   * admitted calls) could lose expert time to them that the capacity phase had not: a CI run
   * measured goodput 0.89x capacity. Unpinned, throughput also kept climbing from phase to phase
   * (one run: 251, 300, 384, 431 tokens/s from warm-up to recovery), which flattered goodput over
   * capacity (1.28x); pinned, the same hour: 202, 249, 274, 250 (1.10x). This JVM is restored
   * afterwards, since the processes it starts later inherit its mask.
   */
  private void keepOffTheExpertsCpu(boolean restore) throws IOException, InterruptedException {
    if (!CpuPinning.available()) {
      return;
    }
    int cpus = Runtime.getRuntime().availableProcessors();
    String rest = cpus == 2 ? "0" : "0-" + (cpus - 2);
    if (restore) {
      CpuPinning.pin(ProcessHandle.current().pid(), "0-" + (cpus - 1));
      return;
    }
    CpuPinning.pin(single.routerPid(), rest);
    CpuPinning.pin(ProcessHandle.current().pid(), rest);
    System.out.println("[overload] router and load generator pinned to CPU " + rest);
  }

  /**
   * A free port with the next three free too: the router's metrics on it, the three expert nodes'
   * after it.
   */
  private static int freeMetricsPorts() throws IOException {
    for (int attempt = 0; attempt < 100; attempt++) {
      int base;
      try (ServerSocket s = new ServerSocket(0)) {
        base = s.getLocalPort();
      }
      if (base + 3 <= 65000 && free(base + 1) && free(base + 2) && free(base + 3)) {
        return base;
      }
    }
    throw new IOException("found no 4 consecutive free ports for metrics");
  }

  private static boolean free(int port) {
    try (ServerSocket s = new ServerSocket(port)) {
      return true;
    } catch (IOException taken) {
      return false;
    }
  }

  private Scrape routerMetrics() throws IOException, InterruptedException {
    return Scrape.of(LocalCluster.HOST, routerMetricsPort);
  }

  /** The router's own histogram of refused Forward calls (arrakis_router_call_latency). */
  private static Scrape.Histogram rejections(Scrape s) {
    return s.histogram(
        "arrakis_router_call_latency_seconds",
        "method",
        "arrakis.v1.Inference/Forward",
        "status",
        "RESOURCE_EXHAUSTED");
  }

  /** The router's own histogram of the health checks it answered, the cheapest call it serves. */
  private static Scrape.Histogram healthChecks(Scrape s) {
    return s.histogram(
        "arrakis_router_call_latency_seconds",
        "method",
        "grpc.health.v1.Health/Check",
        "status",
        "OK");
  }

  /** The sum of every series named {@code name} (e.g. GC pauses of all collectors and causes). */
  private static double total(Scrape s, String name) {
    return s.find(name).stream().mapToDouble(Scrape.Sample::value).sum();
  }

  /**
   * A channel to the router with the cluster's tokens (its admin token opens the Cluster service).
   */
  private static ManagedChannel channel(LocalCluster c) {
    try {
      return c.security().routerClient().channelBuilder(c.routerAddress()).build();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Warm-up (at capacity, then past it, so that the refusal path is compiled too), then capacity
   * windows (a closed loop of as many requests as the admission limit holds: the experts are then
   * busy all the time, on this machine CPU-bound) alternating with overload windows (an open loop
   * at 3x the capacity measured so far), capacity first and last: 30 s of overload in all, as the
   * issue says. Goodput is held to the capacity beside each overload window ({@link
   * #capacityBeside}). Alternating, both see the same machine: measured as two phases 30 s apart, a
   * slow stretch of the experts' core in the second phase (this machine shares its cores) read as
   * goodput 0.64x capacity. Where the CPU went is printed with the figures ({@link WindowCpu}).
   *
   * <p>Asserted: every failure under overload is RESOURCE_EXHAUSTED; the router's own time of its
   * rejections (arrakis_router_call_latency from its /metrics, bucket counts before and after the
   * windows: the capacity windows refuse nothing) has p50 under 10 ms and p99 under 50 ms,
   * strictly; as clients see them, rejections answer with p50 under 10 ms and p99 under 50 ms,
   * relaxed to 3x the health checks' p50 and p99 when those show the machine starved for CPU (the
   * load generator shares it with the cluster); goodput at least 90% of the capacity beside it;
   * admitted p99 at most 3x the p99 at capacity plus 100 ms (admission keeps the same tokens in
   * flight as at capacity, so by Little's law admitted latency should stay where it was; 3x + 100
   * ms leaves room for the CPU the rejections take on a shared 2-core machine); the router's RSS
   * grows by at most 128 MiB (its heap is capped at 256 MiB; unbounded queueing of 3x the load
   * would grow without limit); recovery: each capacity window after an overload window fails
   * nothing.
   */
  @Test
  @Order(1)
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void overloadAtThreeTimesCapacityIsShedFast() throws Exception {
    ManagedChannel ch = channel(single);
    keepOffTheExpertsCpu(false);
    try {
      StatusLoad load =
          new StatusLoad(ch, OVERLOAD_MODEL.hidden(), LAYERS, OVERLOAD_TOKENS, DEADLINE, 5);
      // warm-up, so that the windows below time running processes rather than their JIT
      // compilers: at the capacity windows' concurrency, then past it, for the refusal path (the
      // router's status and trailers, this client's error path), new code to every process here
      StatusLoad.Result warm =
          load.closedLoop(ADMISSION_LIMIT / OVERLOAD_TOKENS, Duration.ofSeconds(4));
      System.out.println("[overload] warm-up at capacity: " + warm);
      System.out.println(
          "[overload] warm-up past capacity: "
              + load.openLoop(3 * warm.ok() / warm.seconds(), Duration.ofSeconds(5)));
      long rssBefore = LocalCluster.rssKib(single.routerPid());
      Scrape before = routerMetrics();
      HealthTimer health = new HealthTimer(ch);
      List<StatusLoad.Result> capacityWindows = new ArrayList<>();
      List<StatusLoad.Result> overloadWindows = new ArrayList<>();
      WindowCpu cpu = new WindowCpu(expertProcesses(), ourProcesses(), this::expertWork);
      double offeredSum = 0;
      capacityWindows.add(cpu.capacity(() -> capacityWindow(load, 0)));
      for (int w = 1; w <= OVERLOAD_WINDOWS; w++) {
        double offered = 3 * StatusLoad.Result.combine(capacityWindows).okPerSecond();
        offeredSum += offered;
        StatusLoad.Result o =
            cpu.overload(() -> health.during(() -> load.openLoop(offered, OVERLOAD_WINDOW)));
        System.out.printf("[overload] window %d, offered %.0f req/s: %s%n", w, offered, o);
        overloadWindows.add(o);
        int after = w;
        capacityWindows.add(cpu.capacity(() -> capacityWindow(load, after)));
      }
      String cpuFigures = cpu.describe();
      StatusLoad.Result capacity = StatusLoad.Result.combine(capacityWindows);
      StatusLoad.Result over = StatusLoad.Result.combine(overloadWindows);
      StatusLoad.Result recovery =
          StatusLoad.Result.combine(capacityWindows.subList(1, capacityWindows.size()));
      System.out.println("[overload] capacity, all windows: " + capacity);
      System.out.println("[overload] overload, all windows: " + over);
      System.out.println("[overload] meanwhile: " + cpuFigures);
      assertThat(capacity.failed())
          .as("capacity windows' failures %s", capacity.failureMessages())
          .isZero();
      double capacityRps = capacity.okPerSecond();
      double offeredRps = offeredSum / OVERLOAD_WINDOWS;
      // the router records a call as its stream closes, just after the client has the answer
      long refusedAtClient = over.byStatus().getOrDefault("RESOURCE_EXHAUSTED", 0L);
      Scrape after = routerMetrics();
      for (long t0 = System.nanoTime();
          rejections(after).since(rejections(before)).count() < refusedAtClient
              && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5); ) {
        Thread.sleep(50);
        after = routerMetrics();
      }
      Scrape.Histogram serverRejections = rejections(after).since(rejections(before));
      double serverP50 = 1000 * serverRejections.quantile(0.5);
      double serverP99 = 1000 * serverRejections.quantile(0.99);
      double serverWithinBound = 100 * serverRejections.shareAtMost(REJECTION_P99_MS / 1000);
      double serverHealthP99 =
          1000 * healthChecks(after).since(healthChecks(before)).quantile(0.99);
      // stop-the-world pauses hold every call in the router, refusals too
      long gcPauses =
          Math.round(
              total(after, "jvm_gc_pause_seconds_count")
                  - total(before, "jvm_gc_pause_seconds_count"));
      double gcPauseMs =
          1000
              * (total(after, "jvm_gc_pause_seconds_sum")
                  - total(before, "jvm_gc_pause_seconds_sum"));
      System.out.printf(
          "[overload] health checks meanwhile: %d, p50 %.2f p99 %.2f max %.2f ms%n",
          health.count(), health.millis(50), health.millis(99), health.maxMillis());
      System.out.printf(
          "[overload] the router's own time of its rejections (its /metrics, this phase only): %.0f,"
              + " p50 %.3f p99 %.3f ms, %.2f%% within %.0f ms; its own time of the health checks: p99 %.3f ms;"
              + " its GC meanwhile: %d pauses, %.0f ms in all%n",
          serverRejections.count(),
          serverP50,
          serverP99,
          serverWithinBound,
          REJECTION_P99_MS,
          serverHealthP99,
          gcPauses,
          gcPauseMs);
      long rssAfter = LocalCluster.rssKib(single.routerPid());

      // as clients see them, rejections wait for CPU like any call: on a machine so starved that
      // even
      // health checks are slow, they are held to 3x the health checks (the same work in the router)
      boolean starved =
          !Boolean.getBoolean("arrakis.chaos.strict") && health.millis(99) >= STARVED_HEALTH_P99_MS;
      double p50Bound =
          starved ? Math.max(REJECTION_P50_MS, 3 * health.millis(50)) : REJECTION_P50_MS;
      double p99Bound =
          starved ? Math.max(REJECTION_P99_MS, 3 * health.millis(99)) : REJECTION_P99_MS;
      double goodput = over.tokensPerSecond();
      double capacityBeside = capacityBeside(capacityWindows, overloadWindows);
      double admittedBound = 3 * capacity.millis("OK", 99) + 100;
      ObjectNode json = new ObjectMapper().createObjectNode();
      json.put("test", getClass().getName() + ".overloadAtThreeTimesCapacityIsShedFast");
      json.put(
          "model",
          String.format(
              "synthetic: %d layers, %d experts, hidden %d, ffn %d, top-%d",
              OVERLOAD_MODEL.layers(),
              OVERLOAD_MODEL.experts(),
              OVERLOAD_MODEL.hidden(),
              OVERLOAD_MODEL.ffn(),
              OVERLOAD_MODEL.topK()));
      json.put("expert_nodes", 3).put("replicas", 1).put("tokens_per_request", OVERLOAD_TOKENS);
      json.put("admission_max_inflight_tokens", ADMISSION_LIMIT);
      json.put("capacity_tokens_per_s", round(capacity.tokensPerSecond()));
      json.put("capacity_requests_per_s", round(capacityRps));
      json.put("capacity_p99_ms", round(capacity.millis("OK", 99)));
      json.put("overload_windows", OVERLOAD_WINDOWS);
      json.put("capacity_seconds", round(capacity.seconds()));
      json.put("overload_seconds", round(over.seconds()));
      json.put("offered_requests_per_s", round(offeredRps));
      json.put("offered_tokens_per_s", round(offeredRps * OVERLOAD_TOKENS));
      json.put("offered_x_capacity", round(offeredRps / capacityRps));
      json.put("sent", over.sent())
          .put("ok", over.ok())
          .put("failed", over.failed())
          .put("unanswered", over.unanswered());
      json.putPOJO("by_status", over.byStatus());
      json.put("goodput_tokens_per_s", round(goodput));
      json.put("goodput_x_capacity", round(goodput / capacity.tokensPerSecond()));
      json.put("capacity_beside_overload_tokens_per_s", round(capacityBeside));
      json.put("goodput_x_capacity_beside", round(goodput / capacityBeside));
      json.put("rejection_p50_ms", round(over.millis("RESOURCE_EXHAUSTED", 50)));
      json.put("rejection_p99_ms", round(over.millis("RESOURCE_EXHAUSTED", 99)));
      json.put("rejection_max_ms", round(over.maxMillis("RESOURCE_EXHAUSTED")));
      json.put("rejection_server_count", Math.round(serverRejections.count()));
      json.put("rejection_server_p50_ms", round(serverP50));
      json.put("rejection_server_p99_ms", round(serverP99));
      json.put("rejection_server_within_50ms_pct", round(serverWithinBound));
      json.put("router_gc_pauses", gcPauses).put("router_gc_pause_ms", round(gcPauseMs));
      json.put("health_check_p50_ms", round(health.millis(50)));
      json.put("health_check_p99_ms", round(health.millis(99)));
      json.put("health_check_server_p99_ms", round(serverHealthP99));
      json.put("rejection_p50_bound_ms", round(p50Bound));
      json.put("rejection_p99_bound_ms", round(p99Bound));
      json.put(
          "load_average_1m",
          round(ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
      json.put("admitted_p50_ms", round(over.millis("OK", 50)));
      json.put("admitted_p99_ms", round(over.millis("OK", 99)));
      json.put("admitted_p99_bound_ms", round(admittedBound));
      json.put("router_rss_before_kib", rssBefore).put("router_rss_after_kib", rssAfter);
      json.put("recovery_sent", recovery.sent()).put("recovery_failed", recovery.failed());
      json.put("other_processes_cpu_s", round(cpu.othersSeconds()));
      json.put("steal_cpu_s", round(cpu.stealSeconds()));
      json.put("expert_tokens_per_cpu_s_capacity", round(cpu.expertTokensPerCpuSecond(false)));
      json.put("expert_tokens_per_cpu_s_overload", round(cpu.expertTokensPerCpuSecond(true)));
      json.put("expert_rows_per_batch_capacity", round(cpu.expertRowsPerBatch(false)));
      json.put("expert_rows_per_batch_overload", round(cpu.expertRowsPerBatch(true)));
      json.put("cpu_cores", machineCpus);
      String text =
          new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(json);
      System.out.println("[overload] figures:\n" + text);
      String dir =
          System.getProperty("arrakis.bench.results", System.getenv("ARRAKIS_BENCH_RESULTS"));
      if (dir != null && !dir.isBlank()) {
        Files.createDirectories(Path.of(dir));
        Files.writeString(Path.of(dir, "overload.json"), text + "\n");
      }

      assertThat(over.unanswered()).isZero();
      assertThat(over.sent()).isEqualTo(over.ok() + over.failed());
      assertThat(over.byStatus().keySet())
          .as("statuses under overload")
          .containsOnly("OK", "RESOURCE_EXHAUSTED");
      assertThat(over.byStatus().get("RESOURCE_EXHAUSTED")).as("rejections").isPositive();
      assertThat(serverRejections.count())
          .as("rejections the router counted in this phase")
          .isEqualTo(refusedAtClient);
      if (starved) {
        System.out.printf(
            "[overload] NOTE: health checks alone took p50 %.1f p99 %.1f ms meanwhile (machine starved"
                + " for CPU): rejections as clients see them held to 3x that, p50 %.1f p99 %.1f ms, instead of %.0f and"
                + " %.0f ms (-Darrakis.chaos.strict=true keeps those)%n",
            health.millis(50),
            health.millis(99),
            p50Bound,
            p99Bound,
            REJECTION_P50_MS,
            REJECTION_P99_MS);
      }
      String healthFigures =
          String.format(
              "health checks meanwhile p50 %.1f p99 %.1f ms, load average %.1f; %s",
              health.millis(50),
              health.millis(99),
              ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
              cpuFigures);
      assertThat(over.millis("RESOURCE_EXHAUSTED", 50))
          .as("rejection p50 ms (%s)", healthFigures)
          .isLessThan(p50Bound);
      assertThat(over.millis("RESOURCE_EXHAUSTED", 99))
          .as("rejection p99 ms (%s)", healthFigures)
          .isLessThan(p99Bound);
      assertThat(goodput)
          .as(
              "goodput tokens/s vs capacity beside the overload windows %.0f (capacity windows: %s;"
                  + " overload windows: %s; %s)",
              capacityBeside, capacityWindows, overloadWindows, healthFigures)
          .isGreaterThanOrEqualTo(0.9 * capacityBeside);
      assertThat(over.millis("OK", 99)).as("admitted p99 ms").isLessThanOrEqualTo(admittedBound);
      assertThat(rssAfter - rssBefore)
          .as("router RSS growth KiB (before %d)", rssBefore)
          .isLessThan(128 * 1024);
      assertThat(recovery.unanswered()).isZero();
      assertThat(recovery.ok()).isPositive();
      // last, so that it hides none of the above: the bound at the router itself, no
      // allowance
      assertThat(serverP50).as("the router's own rejection p50 ms").isLessThan(REJECTION_P50_MS);
      assertThat(serverP99)
          .as(
              "the router's own rejection p99 ms (from its /metrics; its health checks p99 %.1f ms,"
                  + " GC %d pauses %.0f ms)",
              serverHealthP99, gcPauses, gcPauseMs)
          .isLessThan(REJECTION_P99_MS);
    } finally {
      keepOffTheExpertsCpu(true);
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /**
   * The capacity the overload windows had: for each, the mean rate of the capacity windows before
   * and after it, weighted by its length. A slow stretch of the machine (or a fast one) then counts
   * against the windows it fell in, not against the capacity windows measured before it began.
   */
  private static double capacityBeside(
      List<StatusLoad.Result> capacityWindows, List<StatusLoad.Result> overloadWindows) {
    double tokens = 0;
    double seconds = 0;
    for (int w = 0; w < overloadWindows.size(); w++) {
      double rate =
          (capacityWindows.get(w).tokensPerSecond() + capacityWindows.get(w + 1).tokensPerSecond())
              / 2;
      tokens += rate * overloadWindows.get(w).seconds();
      seconds += overloadWindows.get(w).seconds();
    }
    return tokens / seconds;
  }

  /** A capacity window: the admission limit's worth of callers in a closed loop. */
  private static StatusLoad.Result capacityWindow(StatusLoad load, int after)
      throws InterruptedException {
    StatusLoad.Result c = load.closedLoop(ADMISSION_LIMIT / OVERLOAD_TOKENS, CAPACITY_WINDOW);
    System.out.printf("[overload] capacity window %d: %s%n", after, c);
    return c;
  }

  /** The cluster's processes and this one (the load generator). */
  /** The expert nodes' counters, summed; their metrics ports follow the router's. */
  private WindowCpu.ExpertWork expertWork() throws IOException, InterruptedException {
    WindowCpu.ExpertWork sum = new WindowCpu.ExpertWork(0, 0, 0);
    for (int node = 1; node <= single.state().experts().size(); node++) {
      Scrape s = Scrape.of(LocalCluster.HOST, routerMetricsPort + node);
      sum =
          sum.plus(
              new WindowCpu.ExpertWork(
                  total(s, "arrakis_expert_tokens_total"),
                  total(s, "arrakis_expert_batches_total"),
                  total(s, "arrakis_expert_compute_seconds_sum")));
    }
    return sum;
  }

  private Set<Long> ourProcesses() {
    Set<Long> ours = new HashSet<>(expertProcesses());
    ours.add(ProcessHandle.current().pid());
    ours.add(single.routerPid());
    return ours;
  }

  private Set<Long> expertProcesses() {
    Set<Long> experts = new HashSet<>();
    single.state().experts().forEach(m -> experts.add(m.process().pid()));
    return experts;
  }

  private static double round(double v) {
    return Double.isNaN(v) ? -1 : Math.round(v * 100) / 100.0;
  }

  /**
   * One replica: kill -9 one node while load runs. Afterwards every request that needs its experts
   * fails with UNAVAILABLE naming layer and experts, quickly (the deadline is 10 s; we allow 2 s,
   * which covers the retry on the channel to a dead port), and the others still succeed.
   */
  @Test
  @Order(2)
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void killWithoutReplicaFailsOnlyAffectedRequestsFast() throws Exception {
    Member victim = single.state().experts().get(1);
    ManagedChannel ch = channel(single);
    ExecutorService killer = Executors.newSingleThreadExecutor();
    try {
      // single tokens: about a third of them route to the victim's experts, the rest do not
      StatusLoad load = new StatusLoad(ch, OVERLOAD_MODEL.hidden(), LAYERS, 1, DEADLINE, 7);
      Future<?> kill =
          killer.submit(
              () -> {
                Thread.sleep(2000);
                single.killExpert(victim.id(), EXIT_TIMEOUT);
                return null;
              });
      StatusLoad.Result during = load.closedLoop(4, Duration.ofSeconds(5));
      kill.get();
      System.out.println("[no-replica] during kill of " + victim.id() + ": " + during);
      StatusLoad.Result after = load.closedLoop(4, Duration.ofSeconds(4));
      System.out.println(
          "[no-replica] after: "
              + after
              + " "
              + after.failureMessages().stream().limit(3).toList());

      for (StatusLoad.Result r : List.of(during, after)) {
        assertThat(r.unanswered()).isZero();
        assertThat(r.sent()).isEqualTo(r.ok() + r.failed());
        assertThat(r.byStatus().keySet())
            .as("statuses %s", r.failureMessages())
            .isSubsetOf("OK", "UNAVAILABLE");
      }
      assertThat(after.failed()).as("requests needing the dead node's experts").isPositive();
      assertThat(after.ok()).as("requests needing only live nodes").isPositive();
      assertThat(after.maxMillis("UNAVAILABLE"))
          .as("slowest UNAVAILABLE ms (deadline 10 s)")
          .isLessThan(2000);
      assertThat(after.failureMessages())
          .allSatisfy(m -> assertThat(m).contains("layer").containsIgnoringCase("expert"));
    } finally {
      killer.shutdownNow();
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /**
   * Two replicas: kill -9 one node under load (ClosedLoopDriver, 4 callers): nothing fails, every
   * call is answered. Then it is restarted on its port and takes traffic again.
   */
  @Test
  @Order(3)
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void killWithReplicasLosesNothingAndRestartedNodeServesAgain() throws Exception {
    LocalCluster c = replicated();
    Member victim = c.state().experts().get(1);
    ExecutorService killer = Executors.newSingleThreadExecutor();
    try {
      Future<?> kill =
          killer.submit(
              () -> {
                Thread.sleep(3000);
                c.killExpert(victim.id(), EXIT_TIMEOUT);
                return null;
              });
      LoadResult during = drive(c, Duration.ofSeconds(8), Duration.ofSeconds(1));
      kill.get();
      System.out.printf(
          "[replicas] kill -9 %s: sent %d ok %d failed %d unanswered %d %s, node batches %s%n",
          victim.id(),
          during.sent(),
          during.ok(),
          during.failed(),
          during.unanswered(),
          during.byStatus(),
          during.load() == null ? during.loadError() : during.load().nodeBatches());
      assertThat(victim.process().alive()).isFalse();
      assertNothingLost(during);

      long t0 = System.nanoTime();
      Member back = c.restartExpert(victim.id());
      System.out.printf(
          "[replicas] %s back on port %d in %d ms%n",
          victim.id(), back.port(), (System.nanoTime() - t0) / 1_000_000);
      assertThat(back.port()).isEqualTo(victim.port());
      Thread.sleep(1500); // the router's health check (every 500 ms) puts it back in rotation
      LoadResult after = drive(c, Duration.ofSeconds(4), Duration.ZERO);
      System.out.printf(
          "[replicas] after restart: sent %d ok %d failed %d, node batches %s%n",
          after.sent(),
          after.ok(),
          after.failed(),
          after.load() == null ? after.loadError() : after.load().nodeBatches());
      assertNothingLost(after);
      assertThat(after.load()).as(after.loadError()).isNotNull();
      assertThat(after.load().nodeBatches().get(victim.id()))
          .as("Compute calls to the restarted " + victim.id())
          .isPositive();
    } finally {
      killer.shutdownNow();
    }
  }

  /**
   * Two replicas: SIGTERM each node in turn under load, wait for its exit, start it, next: nothing
   * fails.
   */
  @Test
  @Order(4)
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void rollingRestartUnderLoadLosesNothing() throws Exception {
    LocalCluster c = replicated();
    // a test before this one may have failed with its node still down: roll a whole cluster
    for (Member m : c.state().experts()) {
      if (!m.process().alive()) {
        c.restartExpert(m.id());
      }
    }
    ExecutorService roller = Executors.newSingleThreadExecutor();
    try {
      Future<List<String>> roll =
          roller.submit(
              () -> {
                List<String> log = new ArrayList<>();
                Thread.sleep(1500);
                for (Member m : c.state().experts()) {
                  long t0 = System.nanoTime();
                  int code = c.terminateExpert(m.id(), EXIT_TIMEOUT);
                  long exited = System.nanoTime();
                  long since = System.currentTimeMillis();
                  c.restartExpert(m.id());
                  long serving = System.nanoTime();
                  String rejoin = "";
                  if (Boolean.getBoolean("arrakis.chaos.awaitRejoin")) {
                    // diagnosis only (off by default): wait until the router sends the node work
                    // again
                    rejoin =
                        String.format(
                            ", router sent it work %d ms after that",
                            awaitWork(c, m.id(), since) / 1_000_000);
                  }
                  log.add(
                      String.format(
                          "%s exit %d after %d ms, SERVING again after %d ms%s",
                          m.id(),
                          code,
                          (exited - t0) / 1_000_000,
                          (serving - exited) / 1_000_000,
                          rejoin));
                  Thread.sleep(1000); // back in the router's rotation before the next one leaves
                }
                return log;
              });
      // load runs until the roll is over: a first phase long enough, then more while it is not
      LoadResult r = drive(c, Duration.ofSeconds(20), Duration.ZERO);
      List<LoadResult> more = new ArrayList<>();
      while (!roll.isDone()) {
        more.add(drive(c, Duration.ofSeconds(5), Duration.ZERO));
      }
      List<String> steps = roll.get();
      steps.forEach(s -> System.out.println("[rolling] " + s));
      more.add(0, r);
      for (LoadResult x : more) {
        System.out.printf(
            "[rolling] load: sent %d ok %d failed %d unanswered %d %s%n",
            x.sent(), x.ok(), x.failed(), x.unanswered(), x.byStatus());
        assertThat(x.failed())
            .as(
                "failed calls %s (the router's log %s says when each node left and rejoined its"
                    + " rotation)",
                x.byStatus(), c.layout().log(LocalCluster.ROUTER_ID))
            .isZero();
        assertNothingLost(x);
      }
      assertThat(steps).hasSize(3);
    } finally {
      roller.shutdownNow();
    }
  }

  /**
   * Nanoseconds until the router reports Compute calls to {@code node} since {@code sinceMs} (load
   * must run).
   */
  private static long awaitWork(LocalCluster c, String node, long sinceMs)
      throws InterruptedException {
    long t0 = System.nanoTime();
    ManagedChannel ch = channel(c);
    try {
      while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(60)) {
        ClusterLoad load = ClusterLoad.fetch(ch, sinceMs, Duration.ofSeconds(5));
        if (load.nodeBatches().getOrDefault(node, 0L) > 0) {
          break;
        }
        Thread.sleep(100);
      }
      return System.nanoTime() - t0;
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static LoadResult drive(LocalCluster c, Duration duration, Duration warmup)
      throws InterruptedException {
    LoadOptions o;
    try {
      o =
          LoadOptions.of(c.routerAddress(), duration, 4, TokenCounts.parse("1-8"))
              .withTarget(c.routerAddress(), c.security().routerClient())
              .withWarmup(warmup)
              .withDeadline(DEADLINE);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new ClosedLoopDriver(o, null).run(Progress.Listener.NONE);
  }

  private static void assertNothingLost(LoadResult r) {
    assertThat(r.sent()).isPositive();
    assertThat(r.unanswered()).as("unanswered").isZero();
    assertThat(r.sent()).as("sent = ok + failed").isEqualTo(r.ok() + r.failed());
    assertThat(r.failed()).as("failed calls %s", r.byStatus()).isZero();
  }
}
