package io.arrakis.expert.metrics;

import io.arrakis.expert.compute.ComputeExecutor;
import io.arrakis.expert.compute.PreparedBatch;
import io.arrakis.model.placement.ExpertId;
import io.grpc.Status;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.LongSupplier;

/**
 * An expert node's meters, all named {@code arrakis_expert_*} and tagged with the node id. Compute
 * is the hot path, so every meter it touches is looked up in a field or an array; the per-expert
 * and per-status counters are registered on first use, so a node exports series only for the
 * experts it has computed and the codes it has answered.
 */
public final class ExpertMetrics {
  public static final String EXPERT_TOKENS = "arrakis_expert_expert_tokens";
  public static final String TOKENS = "arrakis_expert_tokens";
  public static final String BATCHES = "arrakis_expert_batches";
  public static final String BATCHES_ABANDONED = "arrakis_expert_batches_abandoned";
  public static final String BATCH_SIZE = "arrakis_expert_batch_size";
  public static final String COMPUTE = "arrakis_expert_compute";
  public static final String QUEUE_WAIT = "arrakis_expert_queue_wait";
  public static final String QUEUE_DEPTH = "arrakis_expert_queue_depth";
  public static final String QUEUE_CAPACITY = "arrakis_expert_queue_capacity";
  public static final String COMPUTE_ACTIVE = "arrakis_expert_compute_threads_active";
  public static final String COMPUTE_THREADS = "arrakis_expert_compute_threads";
  public static final String ERRORS = "arrakis_expert_errors";
  public static final String DEVICE = "arrakis_expert_device";
  public static final String WEIGHT_BYTES = "arrakis_expert_weight_bytes";

  /**
   * Latency buckets, 1-2.5-5 per decade from 50 µs (a small batch of a small model) to 10 s: 17
   * buckets, where Micrometer's percentile histogram would export ~90 per timer and node.
   */
  private static final Duration[] LATENCY_BUCKETS = {
    Duration.ofNanos(50_000),
    Duration.ofNanos(100_000),
    Duration.ofNanos(250_000),
    Duration.ofNanos(500_000),
    Duration.ofMillis(1),
    Duration.ofNanos(2_500_000),
    Duration.ofMillis(5),
    Duration.ofMillis(10),
    Duration.ofMillis(25),
    Duration.ofMillis(50),
    Duration.ofMillis(100),
    Duration.ofMillis(250),
    Duration.ofMillis(500),
    Duration.ofSeconds(1),
    Duration.ofMillis(2500),
    Duration.ofSeconds(5),
    Duration.ofSeconds(10)
  };

  private final MeterRegistry registry;
  private final Tags node;
  private final int numExperts;
  private final AtomicReferenceArray<Counter> expertTokens; // [layer * numExperts + expert]
  private final AtomicReferenceArray<Counter> errors; // [Status.Code ordinal]
  private final Counter tokens;
  private final Counter batches;
  private final Counter abandoned;
  private final DistributionSummary batchSize;
  private final Timer compute;
  private final Timer queueWait;

  /**
   * Registers the node's meters in {@code registry}.
   *
   * @param numLayers layers of the model, bounding the layer index of any expert the node holds
   * @param numExperts experts per layer
   * @param maxBatchTokens largest batch accepted, the top of the batch-size histogram
   */
  public ExpertMetrics(
      MeterRegistry registry,
      String nodeId,
      int numLayers,
      int numExperts,
      int maxBatchTokens,
      ComputeExecutor executor) {
    this.registry = registry;
    this.node = Tags.of("node", nodeId);
    this.numExperts = numExperts;
    this.expertTokens = new AtomicReferenceArray<>(numLayers * numExperts);
    this.errors = new AtomicReferenceArray<>(Status.Code.values().length);
    this.tokens =
        Counter.builder(TOKENS)
            .tags(node)
            .description(
                "Tokens (batch rows) computed; a token counts once however many of its experts are here")
            .register(registry);
    this.batches =
        Counter.builder(BATCHES)
            .tags(node)
            .description("Compute calls answered with partial sums")
            .register(registry);
    this.abandoned =
        Counter.builder(BATCHES_ABANDONED)
            .tags(node)
            .description(
                "Batches skipped because their caller gave up (deadline or cancel) while they waited in the queue")
            .register(registry);
    this.batchSize =
        DistributionSummary.builder(BATCH_SIZE)
            .tags(node)
            .baseUnit("tokens")
            .description("Tokens per computed batch")
            // powers of two: few buckets, and batch caps are usually set in powers of two
            .serviceLevelObjectives(powersOfTwoUpTo(maxBatchTokens))
            .register(registry);
    this.compute =
        Timer.builder(COMPUTE)
            .tags(node)
            .description("Time to compute one batch: decode, expert GEMMs, combine, encode")
            .serviceLevelObjectives(LATENCY_BUCKETS)
            .register(registry);
    this.queueWait =
        Timer.builder(QUEUE_WAIT)
            .tags(node)
            .description("Time a batch waited for a compute thread")
            .serviceLevelObjectives(LATENCY_BUCKETS)
            .register(registry);
    Gauge.builder(QUEUE_DEPTH, executor, ComputeExecutor::queued)
        .tags(node)
        .description("Batches waiting for a compute thread")
        .register(registry);
    Gauge.builder(QUEUE_CAPACITY, executor, ComputeExecutor::queueCapacity)
        .tags(node)
        .description("Batches that may wait before the node answers RESOURCE_EXHAUSTED")
        .register(registry);
    Gauge.builder(COMPUTE_ACTIVE, executor, ComputeExecutor::active)
        .tags(node)
        .description("Compute threads busy with a batch")
        .register(registry);
    Gauge.builder(COMPUTE_THREADS, executor, ComputeExecutor::threads)
        .tags(node)
        .description("Compute threads")
        .register(registry);
    // the codes the node answers itself start at zero, so rate() works before the first error
    for (Status.Code code :
        List.of(
            Status.Code.INVALID_ARGUMENT, Status.Code.RESOURCE_EXHAUSTED, Status.Code.INTERNAL)) {
      errorCounter(code);
    }
  }

  /**
   * A registry that records nothing, for a node whose metrics are off: with no registries under it,
   * a composite hands out no-op meters.
   */
  public static MeterRegistry off() {
    return new CompositeMeterRegistry();
  }

  /**
   * Registers what the node computes on: {@code arrakis_expert_device{backend, device} 1} and the
   * bytes of weights it holds there.
   */
  public void device(String backend, String device, LongSupplier weightBytes) {
    Gauge.builder(DEVICE, () -> 1)
        .tags(node)
        .tag("backend", backend)
        .tag("device", device)
        .description("The device the node computes on (value always 1)")
        .register(registry);
    Gauge.builder(WEIGHT_BYTES, weightBytes::getAsLong)
        .tags(node)
        .baseUnit("bytes")
        .description("Bytes of expert weights held on the device")
        .register(registry);
  }

  /** A batch left the queue for a compute thread after waiting {@code nanos}. */
  public void dequeued(long nanos) {
    queueWait.record(nanos, TimeUnit.NANOSECONDS);
  }

  /** A batch was computed in {@code nanos}. */
  public void computed(PreparedBatch batch, long nanos) {
    compute.record(nanos, TimeUnit.NANOSECONDS);
    batches.increment();
    tokens.increment(batch.tokens());
    batchSize.record(batch.tokens());
    List<ExpertId> experts = batch.experts();
    for (int i = 0; i < experts.size(); i++) {
      expertCounter(experts.get(i)).increment(batch.work().get(i).rows().length);
    }
  }

  /** A batch was dropped unanswered because its caller had already gone. */
  public void abandoned() {
    abandoned.increment();
  }

  /** A call ended with a status other than OK. */
  public void error(Status.Code code) {
    errorCounter(code).increment();
  }

  private Counter expertCounter(ExpertId id) {
    int i = id.layer() * numExperts + id.expert();
    Counter c = expertTokens.get(i);
    if (c == null) {
      // two threads may race here; the registry hands both the same counter
      c =
          Counter.builder(EXPERT_TOKENS)
              .tags(node)
              .tag("layer", Integer.toString(id.layer()))
              .tag("expert", Integer.toString(id.expert()))
              .description(
                  "Token rows computed by each expert; a token sent to k experts here counts once for each")
              .register(registry);
      expertTokens.set(i, c);
    }
    return c;
  }

  private Counter errorCounter(Status.Code code) {
    Counter c = errors.get(code.ordinal());
    if (c == null) {
      c =
          Counter.builder(ERRORS)
              .tags(node)
              .tag("status", code.name())
              .description("Calls that ended with a status other than OK, by gRPC status code")
              .register(registry);
      errors.set(code.ordinal(), c);
    }
    return c;
  }

  private static double[] powersOfTwoUpTo(int max) {
    int n =
        32
            - Integer.numberOfLeadingZeros(Math.max(1, max - 1))
            + 1; // 1, 2, 4, … up to the first ≥ max
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = 1L << i;
    }
    return out;
  }
}
