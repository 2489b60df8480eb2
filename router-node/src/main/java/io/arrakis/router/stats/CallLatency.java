package io.arrakis.router.stats;

import io.grpc.Metadata;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServerStreamTracer;
import io.grpc.Status;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The router's own latency of every call it serves, by method and status: from the moment its
 * transport has read the call's headers (before any executor, interceptor or handler) until the
 * stream closes with its status. What a client measures adds the network and the client's own CPU;
 * this is what the router takes. A {@link ServerStreamTracer.Factory}: register it on the server
 * builder. Times come from the registry's clock.
 */
public final class CallLatency extends ServerStreamTracer.Factory {
  public static final String METER = "arrakis_router_call_latency";

  /**
   * The method tag of calls to a method the server does not serve: client-chosen names would be
   * unbounded tags.
   */
  public static final String UNKNOWN_METHOD = "unknown";

  /**
   * An exact bucket boundary at the rejection latency the router promises (RESOURCE_EXHAUSTED
   * within 50 ms), so that the share of calls within it is read from /metrics, not interpolated.
   */
  static final Duration PROMISED_REJECTION = Duration.ofMillis(50);

  private final MeterRegistry registry;
  private final Clock clock;
  private final Set<String> methods;
  private final Map<String, Map<Status.Code, Timer>> timers = new ConcurrentHashMap<>();

  /**
   * Measures calls to the methods of {@code services}; calls to any other method count as {@link
   * #UNKNOWN_METHOD}.
   */
  public CallLatency(MeterRegistry registry, Collection<ServerServiceDefinition> services) {
    this.registry = registry;
    this.clock = registry.config().clock();
    this.methods =
        services.stream()
            .flatMap(s -> s.getMethods().stream())
            .map(m -> m.getMethodDescriptor().getFullMethodName())
            .collect(Collectors.toUnmodifiableSet());
  }

  @Override
  public ServerStreamTracer newServerStreamTracer(String fullMethodName, Metadata headers) {
    long start = clock.monotonicTime();
    String method = methods.contains(fullMethodName) ? fullMethodName : UNKNOWN_METHOD;
    return new ServerStreamTracer() {
      @Override
      public void streamClosed(Status status) {
        // Stamped before the timer is looked up: registering a status's first timer (its
        // histogram) takes milliseconds on a cold JVM, and that is not the call's time.
        long elapsed = clock.monotonicTime() - start;
        timer(method, status.getCode()).record(elapsed, TimeUnit.NANOSECONDS);
      }
    };
  }

  private Timer timer(String method, Status.Code code) {
    return timers
        .computeIfAbsent(method, m -> new ConcurrentHashMap<>())
        .computeIfAbsent(
            code,
            c ->
                Timer.builder(METER)
                    .description(
                        "Calls served, from their headers read to their status sent, by method and status")
                    .tag("method", method)
                    .tag("status", c.name())
                    .publishPercentileHistogram()
                    .minimumExpectedValue(
                        Duration.ofNanos(100_000)) // refusals take well under a millisecond
                    .serviceLevelObjectives(PROMISED_REJECTION)
                    .register(registry));
  }
}
