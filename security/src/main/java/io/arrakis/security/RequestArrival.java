package io.arrakis.security;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds what a call costs while its request is still arriving. A client that opens calls and then
 * sends their requests slowly, in part or never (headers only) would otherwise hold each call, and
 * the bytes of its request read so far, until its own deadline, or for ever without one. At most
 * {@code max-arriving-calls} calls may wait for their request at once (past it RESOURCE_EXHAUSTED
 * at once, before a byte of the request is read), and each has {@code request-timeout} from its
 * headers to its request's last byte (past it the call ends DEADLINE_EXCEEDED and the handler never
 * runs). So such clients cost at most the limit times the server's inbound message limit. Only
 * methods whose client sends one message are watched (every Arrakis method); a streaming request
 * (server reflection) may stay open.
 */
public final class RequestArrival implements ServerInterceptor, AutoCloseable {
  private static final int WAITING = 0;
  private static final int ARRIVED = 1;
  private static final int EXPIRED = 2;

  /**
   * The two bounds, read by each server from its own configuration.
   *
   * @param maxCalls calls that may wait for their request at once ({@code max-arriving-calls})
   * @param timeout from a call's headers to its request's last byte ({@code request-timeout})
   * @param prefix the configuration path of the keys, for messages (e.g. {@code arrakis.router})
   */
  public record Settings(int maxCalls, Duration timeout, String prefix) {
    public Settings {
      if (maxCalls < 1) {
        throw new IllegalArgumentException(
            prefix + ".max-arriving-calls must be positive, got " + maxCalls);
      }
      if (timeout.isNegative() || timeout.isZero() || timeout.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException(
            prefix + ".request-timeout must be positive and at most 1 day, got " + timeout);
      }
    }
  }

  private final Settings settings;
  private final Semaphore places;
  private final ScheduledThreadPoolExecutor timer;

  public RequestArrival(Settings settings) {
    this.settings = settings;
    this.places = new Semaphore(settings.maxCalls());
    this.timer =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "request-arrival");
              t.setDaemon(true);
              return t;
            });
    timer.setRemoveOnCancelPolicy(true); // a call that arrives in time leaves no task behind
  }

  /** Watches every call of {@code builder}'s server. */
  public void register(ServerBuilder<?> builder) {
    builder.intercept(this);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    if (!call.getMethodDescriptor().getType().clientSendsOneMessage()) {
      return next.startCall(call, headers);
    }
    if (!places.tryAcquire()) {
      call.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              settings.maxCalls()
                  + " calls are already waiting for their requests to arrive ("
                  + settings.prefix()
                  + ".max-arriving-calls); retry later"),
          new Metadata());
      return new ServerCall.Listener<>() {};
    }
    Arrival<Q, R> arrival = new Arrival<>(call);
    ServerCall.Listener<Q> listener;
    try {
      listener = next.startCall(arrival, headers);
    } catch (RuntimeException | Error e) {
      arrival.arrive();
      throw e;
    }
    arrival.watch();
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onHalfClose() {
        if (arrival.arrive()) {
          super.onHalfClose();
        }
      }

      @Override
      public void onCancel() {
        arrival.arrive();
        super.onCancel();
      }

      @Override
      public void onComplete() {
        arrival.arrive();
        super.onComplete();
      }
    };
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }

  /**
   * One call until its request has arrived, the call ended (a client's cancellation, an inner
   * interceptor's refusal), or its time ran out: whichever comes first gives its place back.
   */
  private final class Arrival<Q, R> extends SimpleForwardingServerCall<Q, R> {
    private final AtomicInteger state = new AtomicInteger(WAITING);
    private volatile Future<?> expiry;

    Arrival(ServerCall<Q, R> call) {
      super(call);
    }

    void watch() {
      if (state.get() != WAITING) {
        return; // refused at once by an inner interceptor
      }
      expiry = timer.schedule(this::expire, settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
      if (state.get() != WAITING) {
        expiry.cancel(false);
      }
    }

    /** True unless the call's time ran out first (then what arrives late is dropped). */
    boolean arrive() {
      if (state.compareAndSet(WAITING, ARRIVED)) {
        places.release();
        Future<?> e = expiry;
        if (e != null) {
          e.cancel(false);
        }
        return true;
      }
      return state.get() == ARRIVED;
    }

    private void expire() {
      if (state.compareAndSet(WAITING, EXPIRED)) {
        places.release();
        // the handler has not run (a unary handler runs once the request is whole), so nothing
        // else closes this call
        super.close(
            Status.DEADLINE_EXCEEDED.withDescription(
                "the request did not arrive within "
                    + settings.timeout().toMillis()
                    + " ms of its headers ("
                    + settings.prefix()
                    + ".request-timeout)"),
            new Metadata());
      }
    }

    @Override
    public void close(Status status, Metadata trailers) {
      arrive(); // an inner interceptor's refusal, or the answer: the call no longer waits
      super.close(status, trailers);
    }
  }
}
