package io.arrakis.loadtest.chaos;

import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * Where the CPU went during a test's capacity and overload windows: the expert nodes' CPU per
 * second of each kind (alike when only the offered load differs; lower under overload if refusals
 * kept the router from feeding the experts, lower in either kind if something else took their core;
 * unchanged when the core itself slows down, which only throughput shows), the other processes' CPU
 * and the hypervisor's steal. Read from /proc at each window's ends.
 */
final class WindowCpu {
  private final Set<Long> experts;
  private final Set<Long> ours;
  private final Map<String, Double> others = new HashMap<>();
  private double steal;
  private final Tally capacity = new Tally();
  private final Tally overload = new Tally();
  private final Callable<ExpertWork> expertWork;

  /**
   * The expert nodes' CPU seconds over the windows' seconds, and the work their own metrics count,
   * of one kind of window.
   */
  private static final class Tally {
    double cpu;
    double seconds;
    ExpertWork work = new ExpertWork(0, 0, 0);

    double tokensPerCpuSecond() {
      return work.tokens / cpu;
    }

    double rowsPerBatch() {
      return work.tokens / work.batches;
    }

    String describeWork() {
      return String.format(
          "%.0f tokens per CPU second, %.1f rows per batch, %.2f ms computing per token",
          tokensPerCpuSecond(), rowsPerBatch(), 1e3 * work.computeSeconds / work.tokens);
    }
  }

  /**
   * What the expert nodes' metrics count, summed over the nodes: tokens (batch rows), batches, and
   * seconds computing them. Per CPU second and per batch they tell a core that slowed down (fewer
   * tokens per CPU second, batches alike) from work that changed shape (smaller batches).
   */
  record ExpertWork(double tokens, double batches, double computeSeconds) {
    ExpertWork plus(ExpertWork o) {
      return new ExpertWork(
          tokens + o.tokens, batches + o.batches, computeSeconds + o.computeSeconds);
    }

    ExpertWork since(ExpertWork before) {
      return new ExpertWork(
          tokens - before.tokens, batches - before.batches, computeSeconds - before.computeSeconds);
    }
  }

  /**
   * @param experts the expert nodes' processes
   * @param ours every process of the test (the cluster's and the load generator)
   * @param expertWork reads the expert nodes' counters now
   */
  WindowCpu(Set<Long> experts, Set<Long> ours, Callable<ExpertWork> expertWork) {
    this.experts = experts;
    this.ours = ours;
    this.expertWork = expertWork;
  }

  StatusLoad.Result capacity(Callable<StatusLoad.Result> window) throws Exception {
    return measure(capacity, window);
  }

  StatusLoad.Result overload(Callable<StatusLoad.Result> window) throws Exception {
    return measure(overload, window);
  }

  private StatusLoad.Result measure(Tally kind, Callable<StatusLoad.Result> window)
      throws Exception {
    ExpertWork workBefore = expertWork.call();
    HostCpu before = HostCpu.now();
    StatusLoad.Result r = window.call();
    kind.cpu += after(before).secondsSince(before, experts);
    kind.work = kind.work.plus(expertWork.call().since(workBefore));
    kind.seconds += r.seconds();
    return r;
  }

  private HostCpu after(HostCpu before) {
    HostCpu now = HostCpu.now();
    now.othersSince(before, ours).forEach((k, v) -> others.merge(k, v, Double::sum));
    steal += now.stealSecondsSince(before);
    return now;
  }

  double othersSeconds() {
    return others.values().stream().mapToDouble(Double::doubleValue).sum();
  }

  double stealSeconds() {
    return steal;
  }

  /** The expert nodes' tokens (batch rows) per CPU second in capacity or overload windows. */
  double expertTokensPerCpuSecond(boolean overloadWindows) {
    return (overloadWindows ? overload : capacity).tokensPerCpuSecond();
  }

  /** The expert nodes' mean batch (rows) in capacity or overload windows. */
  double expertRowsPerBatch(boolean overloadWindows) {
    return (overloadWindows ? overload : capacity).rowsPerBatch();
  }

  /** In words, with the five other processes that took the most. */
  String describe() {
    String top =
        others.entrySet().stream()
            .sorted(Map.Entry.<String, Double>comparingByValue(Comparator.reverseOrder()))
            .limit(5)
            .map(e -> String.format("%s %.1f s", e.getKey(), e.getValue()))
            .reduce((a, b) -> a + ", " + b)
            .orElse("none");
    return String.format(
        "expert nodes' CPU per second %.2f in capacity windows, %.2f in overload windows; their"
            + " work in capacity windows %s, in overload windows %s; other processes %.1f s of CPU"
            + " (%s); steal %.1f s",
        capacity.cpu / capacity.seconds,
        overload.cpu / overload.seconds,
        capacity.describeWork(),
        overload.describeWork(),
        othersSeconds(),
        top,
        steal);
  }
}
