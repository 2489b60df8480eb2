package io.arrakis.router.stats;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.router.admission.TokenLimiter;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * What the router measures: Prometheus meters (tokens per expert, tokens and batches per node,
 * batch sizes, latencies, queue depths, errors by status) and the {@link LoadStats} the Cluster
 * service reports. Meters are created once per key and cached, since every request touches them.
 */
public final class RouterTelemetry {
  private final MeterRegistry registry;
  private final LoadStats load;
  private final Timer requestLatency;
  private final DistributionSummary requestTokens;
  private final Map<ExpertId, Counter> expertTokens = new ConcurrentHashMap<>();
  private final Map<String, NodeMeters> nodes = new ConcurrentHashMap<>();
  private final Map<Status.Code, Counter> errors = new ConcurrentHashMap<>();
  private final Map<String, List<IntSupplier>> queues = new HashMap<>();
  private final Map<String, Gauge> queueGauges = new HashMap<>();
  private final AtomicInteger running = new AtomicInteger();

  public RouterTelemetry(MeterRegistry registry, LoadStats load) {
    this.registry = registry;
    this.load = load;
    this.requestLatency =
        Timer.builder("arrakis_router_request_latency")
            .description("Forward latency at the router")
            .publishPercentileHistogram()
            .register(registry);
    this.requestTokens =
        DistributionSummary.builder("arrakis_router_request_tokens")
            .description("Tokens per Forward")
            .publishPercentileHistogram()
            .register(registry);
    Gauge.builder("arrakis_router_active_requests", running, AtomicInteger::get)
        .description("Requests whose coordinator is running")
        .strongReference(true)
        .register(registry);
  }

  public LoadStats load() {
    return load;
  }

  /** A request's routed tokens per expert (each (token, expert) pair counts once). */
  public void routed(Map<ExpertId, Long> tokensPerExpert) {
    tokensPerExpert.forEach(
        (e, n) ->
            expertTokens
                .computeIfAbsent(
                    e,
                    k ->
                        Counter.builder("arrakis_router_expert_tokens")
                            .description("Tokens routed to each expert")
                            .tag("layer", Integer.toString(k.layer()))
                            .tag("expert", Integer.toString(k.expert()))
                            .register(registry))
                .increment(n));
    load.recordExperts(tokensPerExpert);
  }

  public void requestEnded(int tokens, long nanos, Status.Code code) {
    requestTokens.record(tokens);
    requestLatency.record(nanos, TimeUnit.NANOSECONDS);
    if (code != Status.Code.OK) {
      error(code);
    }
  }

  /** A Forward refused before any work (bad input, overload). */
  public void error(Status.Code code) {
    errors
        .computeIfAbsent(
            code,
            c ->
                Counter.builder("arrakis_router_errors")
                    .description("Failed Forward calls by status")
                    .tag("status", c.name())
                    .register(registry))
        .increment();
  }

  /**
   * A Compute call went out.
   *
   * @param rows tokens in the call (each token once)
   * @param pairs token-expert pairs in it: the node's work, and what its load counts
   */
  public void batchSent(String nodeId, long rows, long pairs) {
    NodeMeters m = node(nodeId);
    m.batchTokens.record(rows);
    m.tokens.increment(pairs);
    m.batches.increment();
    load.recordBatch(nodeId, pairs);
  }

  public void callEnded(String nodeId, long tokens, long nanos, Status.Code code) {
    node(nodeId).latency.record(nanos, TimeUnit.NANOSECONDS);
    if (code != Status.Code.OK) {
      Counter.builder("arrakis_router_node_errors")
          .tag("node", nodeId)
          .tag("status", code.name())
          .register(registry)
          .increment();
    }
  }

  /**
   * Slices waiting in a node's dispatcher. A node's gauge reads every dispatcher registered for it
   * (two while a node moves to a new address) and is removed with the last of them.
   *
   * @return what removes this dispatcher's depth from the gauge
   */
  public AutoCloseable registerQueue(String nodeId, IntSupplier depth) {
    synchronized (queues) {
      List<IntSupplier> depths = queues.computeIfAbsent(nodeId, id -> new CopyOnWriteArrayList<>());
      if (depths.isEmpty()) {
        queueGauges.put(
            nodeId,
            Gauge.builder(
                    "arrakis_router_node_queue_depth",
                    depths,
                    d -> d.stream().mapToInt(IntSupplier::getAsInt).sum())
                .description("Slices waiting for a call to the node")
                .tag("node", nodeId)
                .strongReference(true)
                .register(registry));
      }
      depths.add(depth);
    }
    return () -> {
      synchronized (queues) {
        List<IntSupplier> depths = queues.get(nodeId);
        if (depths != null && depths.remove(depth) && depths.isEmpty()) {
          queues.remove(nodeId);
          registry.remove(queueGauges.remove(nodeId));
        }
      }
    };
  }

  /** Admission: tokens in flight and the limit (which moves when adaptive). */
  public void registerAdmission(TokenLimiter admission) {
    Gauge.builder("arrakis_router_inflight_tokens", admission, TokenLimiter::inFlight)
        .description("Tokens of admitted Forward calls not yet answered")
        .strongReference(true)
        .register(registry);
    Gauge.builder("arrakis_router_admission_limit", admission, TokenLimiter::limit)
        .description("Tokens the router admits at once")
        .strongReference(true)
        .register(registry);
  }

  /** A request's coordinator started (counted until {@link #requestFinished}). */
  public void requestStarted() {
    running.incrementAndGet();
  }

  /** A request's coordinator stopped, whatever its answer. */
  public void requestFinished() {
    running.decrementAndGet();
  }

  private NodeMeters node(String nodeId) {
    return nodes.computeIfAbsent(
        nodeId,
        id ->
            new NodeMeters(
                Counter.builder("arrakis_router_node_tokens")
                    .description("Token-expert pairs sent to each expert node")
                    .tag("node", id)
                    .register(registry),
                Counter.builder("arrakis_router_node_batches")
                    .description("Compute calls to each expert node")
                    .tag("node", id)
                    .register(registry),
                DistributionSummary.builder("arrakis_router_node_batch_tokens")
                    .description("Tokens per Compute call")
                    .tag("node", id)
                    .publishPercentileHistogram()
                    .register(registry),
                Timer.builder("arrakis_router_node_call_latency")
                    .description("Compute call latency")
                    .tag("node", id)
                    .publishPercentileHistogram()
                    .register(registry)));
  }

  private record NodeMeters(
      Counter tokens, Counter batches, DistributionSummary batchTokens, Timer latency) {}
}
