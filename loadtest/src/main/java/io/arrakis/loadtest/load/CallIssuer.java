package io.arrakis.loadtest.load;

import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Sends one Forward call without blocking and records how it ended. Latency runs from the {@code
 * intendedStartNanos} the caller gives: the send time for a closed loop, the scheduled time for an
 * open loop (so that a late send is not hidden: coordinated omission).
 */
final class CallIssuer {
  /** A status name for an OK answer whose output is not [T, d]. */
  public static final String BAD_RESPONSE = "BAD_RESPONSE";

  private final InferenceGrpc.InferenceStub stub;
  private final LoadRecorder recorder;
  private final Duration deadline;
  private final int hidden;

  public CallIssuer(
      InferenceGrpc.InferenceStub stub, LoadRecorder recorder, Duration deadline, int hidden) {
    this.stub = stub;
    this.recorder = recorder;
    this.deadline = deadline;
    this.hidden = hidden;
  }

  /** Told once how a call ended. */
  @FunctionalInterface
  public interface Done {
    /**
     * A call has ended.
     *
     * @param ok whether the call was answered OK with a well-formed output
     */
    void ended(boolean ok);
  }

  /**
   * Sends; {@code done} is told once the call has ended, whichever way (on a gRPC thread, or this
   * one).
   */
  public void send(RequestPool.Entry entry, long intendedStartNanos, Done done) {
    recorder.sent();
    try {
      stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
          .forward(entry.request(), new Observer(entry, intendedStartNanos, done));
    } catch (RuntimeException e) {
      // a call that could not even start still counts, so that sent = ok + failed holds
      recorder.failed(Status.fromThrowable(e).getCode().name());
      done.ended(false);
    }
  }

  private final class Observer implements StreamObserver<ForwardResponse> {
    private final RequestPool.Entry entry;
    private final long start;
    private final Done done;
    private ForwardResponse response;

    Observer(RequestPool.Entry entry, long start, Done done) {
      this.entry = entry;
      this.start = start;
      this.done = done;
    }

    @Override
    public void onNext(ForwardResponse value) {
      response = value;
    }

    @Override
    public void onError(Throwable t) {
      recorder.failed(Status.fromThrowable(t).getCode().name());
      done.ended(false);
    }

    @Override
    public void onCompleted() {
      long latency = System.nanoTime() - start;
      boolean ok = response != null && wellFormed(response);
      if (ok) {
        recorder.ok(latency, entry.tokens());
      } else {
        recorder.failed(BAD_RESPONSE);
      }
      done.ended(ok);
    }

    private boolean wellFormed(ForwardResponse r) {
      return r.getRequestId().equals(entry.request().getRequestId())
          && r.getOutput().getShapeCount() == 2
          && r.getOutput().getShape(0) == entry.tokens()
          && r.getOutput().getShape(1) == hidden
          && r.getOutput().getData().size() == (long) entry.tokens() * hidden * 4;
    }
  }
}
