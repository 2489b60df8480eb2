package io.arrakis.router.stats;

import io.grpc.Context;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
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
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * The router's own latency of every call it serves, by method and status: from the moment its
 * transport has read the call's headers (before any executor, interceptor or handler) until its
 * status is handed back to the transport. What a client measures adds the network and the client's
 * own CPU; this is what the router takes. Times come from the registry's clock; {@link #register}
 * puts it on a server.
 *
 * <p>A call's end is stamped when its status is handed to the transport ({@link ServerCall#close}),
 * not when the tracer hears the stream closed: that comes after the trailers are written, and on
 * busy cores the client can have its status before the transport thread runs again. The tracer
 * (which sees the call first) and the interceptor (which sees its close) share the stamp through
 * the call's context. Calls the transport ends itself (a cancellation, an unknown method) are
 * stamped when the stream closes.
 */
public final class CallLatency extends ServerStreamTracer.Factory implements ServerInterceptor {
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

  private static final long OPEN = Long.MIN_VALUE;
  private static final Context.Key<AtomicLong> CLOSED_AT = Context.key("arrakis-call-closed-at");

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

  /**
   * Measures every call {@code builder}'s server will serve. Call it after the builder's other
   * interceptors are added: it must be the outermost one to see the statuses they send.
   */
  public void register(ServerBuilder<?> builder) {
    builder.addStreamTracerFactory(this);
    builder.intercept(this);
  }

  @Override
  public ServerStreamTracer newServerStreamTracer(String fullMethodName, Metadata headers) {
    long start = clock.monotonicTime();
    String method = methods.contains(fullMethodName) ? fullMethodName : UNKNOWN_METHOD;
    AtomicLong closedAt = new AtomicLong(OPEN);
    return new ServerStreamTracer() {
      @Override
      public Context filterContext(Context context) {
        return context.withValue(CLOSED_AT, closedAt);
      }

      @Override
      public void streamClosed(Status status) {
        // Stamped before the timer is looked up: registering a status's first timer (its
        // histogram) takes milliseconds on a cold JVM, and that is not the call's time.
        closedAt.compareAndSet(OPEN, clock.monotonicTime());
        timer(method, status.getCode()).record(closedAt.get() - start, TimeUnit.NANOSECONDS);
      }
    };
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    AtomicLong closedAt = CLOSED_AT.get();
    if (closedAt == null) { // not through register: the tracer stamps the end alone
      return next.startCall(call, headers);
    }
    return next.startCall(
        new SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            closedAt.compareAndSet(OPEN, clock.monotonicTime());
            super.close(status, trailers);
          }
        },
        headers);
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
