package io.arrakis.router.serve;

import io.arrakis.engine.generate.FinishReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What serving people look at, as vLLM names it: time to first token, time per output token,
 * inter-token latency and end-to-end latency histograms; running, waiting and preempted sequences;
 * KV-cache blocks used and free; tokens per step; micro-batch overlap. The scheduler writes, the
 * registry reads.
 */
final class ServingMetrics {
  private final Timer ttft;
  private final Timer tpot;
  private final Timer itl;
  private final Timer e2e;
  private final DistributionSummary stepTokens;
  private final Counter preemptions;
  private final Counter promptTokens;
  private final Counter generationTokens;
  private final Counter prefixQueries;
  private final Counter prefixHits;
  private final Map<FinishReason, Counter> finished = new EnumMap<>(FinishReason.class);
  private final Counter failed;
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicInteger preemptedWaiting = new AtomicInteger();
  private final AtomicInteger blocksUsed = new AtomicInteger();
  private final AtomicInteger blocksFree = new AtomicInteger();
  private final BusyTracker busy = new BusyTracker();

  public ServingMetrics(MeterRegistry registry, int totalBlocks) {
    ttft =
        timer(
            registry,
            "arrakis_serve_time_to_first_token",
            "From a request's arrival to its first token");
    tpot =
        timer(
            registry,
            "arrakis_serve_time_per_output_token",
            "A request's (end-to-end - time to first token) / (output tokens - 1)");
    itl =
        timer(
            registry,
            "arrakis_serve_inter_token_latency",
            "Between a sequence's consecutive tokens");
    e2e =
        timer(registry, "arrakis_serve_e2e_latency", "From a request's arrival to its last token");
    stepTokens =
        DistributionSummary.builder("arrakis_serve_step_tokens")
            .description("Tokens in one micro-batch step")
            .publishPercentileHistogram()
            .register(registry);
    preemptions =
        Counter.builder("arrakis_serve_preemptions")
            .description("Sequences preempted (to be recomputed)")
            .register(registry);
    promptTokens =
        Counter.builder("arrakis_serve_prompt_tokens")
            .description("Prompt tokens of admitted requests")
            .register(registry);
    generationTokens =
        Counter.builder("arrakis_serve_generation_tokens")
            .description("Tokens generated")
            .register(registry);
    prefixQueries =
        Counter.builder("arrakis_serve_prefix_cache_queries")
            .description("Tokens of admitted sequences looked up in the prefix cache")
            .register(registry);
    prefixHits =
        Counter.builder("arrakis_serve_prefix_cache_hits")
            .description("Tokens found in the prefix cache (their KV cache reused, not computed)")
            .register(registry);
    for (FinishReason r : FinishReason.values()) {
      finished.put(
          r,
          Counter.builder("arrakis_serve_requests_finished")
              .description("Requests ended, by finish reason")
              .tag("reason", r.wire())
              .register(registry));
    }
    failed =
        Counter.builder("arrakis_serve_requests_failed")
            .description("Requests that failed after admission")
            .register(registry);
    gauge(registry, "arrakis_serve_sequences", "state", "running", running);
    gauge(registry, "arrakis_serve_sequences", "state", "waiting", waiting);
    gauge(registry, "arrakis_serve_sequences", "state", "preempted", preemptedWaiting);
    gauge(registry, "arrakis_serve_kv_blocks", "state", "used", blocksUsed);
    gauge(registry, "arrakis_serve_kv_blocks", "state", "free", blocksFree);
    blocksFree.set(totalBlocks);
    FunctionCounter.builder(
            "arrakis_serve_busy_seconds", busy, b -> b.snapshot().routerOnly() / 1e9)
        .tag("side", "router")
        .description("Time only the router computed steps")
        .register(registry);
    FunctionCounter.builder(
            "arrakis_serve_busy_seconds", busy, b -> b.snapshot().expertsOnly() / 1e9)
        .tag("side", "experts")
        .description("Time only the expert nodes had MoE layers of steps")
        .register(registry);
    FunctionCounter.builder("arrakis_serve_busy_seconds", busy, b -> b.snapshot().both() / 1e9)
        .tag("side", "both")
        .description("Time router and expert nodes were busy at once")
        .register(registry);
    FunctionCounter.builder("arrakis_serve_busy_seconds", busy, b -> b.snapshot().idle() / 1e9)
        .tag("side", "idle")
        .description(
            "Time neither had a step's work (the four sides add up to the time since start)")
        .register(registry);
    Gauge.builder("arrakis_serve_microbatch_overlap", busy, b -> b.snapshot().overlap())
        .description(
            "Share of the busy time during which router and expert nodes were both busy, since start")
        .strongReference(true)
        .register(registry);
  }

  private static Timer timer(MeterRegistry registry, String name, String description) {
    return Timer.builder(name)
        .description(description)
        .publishPercentileHistogram()
        .register(registry);
  }

  private static void gauge(
      MeterRegistry registry, String name, String tag, String value, AtomicInteger n) {
    Gauge.builder(name, n, AtomicInteger::get)
        .tag(tag, value)
        .strongReference(true)
        .register(registry);
  }

  public BusyTracker busy() {
    return busy;
  }

  void admitted(int prompt) {
    promptTokens.increment(prompt);
  }

  /** A sequence admitted with prefix caching: {@code tokens} looked up, {@code found} reused. */
  void prefixCache(int tokens, int found) {
    prefixQueries.increment(tokens);
    prefixHits.increment(found);
  }

  void step(int tokens) {
    stepTokens.record(tokens);
  }

  void preempted() {
    preemptions.increment();
  }

  /**
   * A sequence's token at {@code now}: its first (time to first token) or a later one (inter-token
   * latency).
   */
  void token(Sequence s, long now) {
    generationTokens.increment();
    if (s.firstTokenNanos == 0) {
      s.firstTokenNanos = now;
      ttft.record(now - s.request.arrivalNanos(), TimeUnit.NANOSECONDS);
    } else {
      itl.record(now - s.lastTokenNanos, TimeUnit.NANOSECONDS);
    }
    s.lastTokenNanos = now;
  }

  void finished(Sequence s, FinishReason reason) {
    finished.get(reason).increment();
    if (reason != FinishReason.CANCELLED && s.firstTokenNanos != 0) {
      e2e.record(s.lastTokenNanos - s.request.arrivalNanos(), TimeUnit.NANOSECONDS);
      if (s.generated() > 1) {
        tpot.record(
            (s.lastTokenNanos - s.firstTokenNanos) / (s.generated() - 1), TimeUnit.NANOSECONDS);
      }
    }
  }

  void failed() {
    failed.increment();
  }

  void state(int runningNow, int waitingNow, int preemptedNow, int used, int free) {
    running.set(runningNow);
    waiting.set(waitingNow);
    preemptedWaiting.set(preemptedNow);
    blocksUsed.set(used);
    blocksFree.set(free);
  }

  public int blocksUsed() {
    return blocksUsed.get();
  }
}
