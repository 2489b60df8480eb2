package io.arrakis.loadtest.serve;

import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.GenerateResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.Usage;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * One {@code Generate} stream as its client sees it: token ids and text as they arrive (each
 * message's arrival time kept, for time to first token and inter-token latency), how it ended
 * (status, finish reason, usage), and a way to cancel it.
 */
public final class GenerateCall
    implements ClientResponseObserver<GenerateRequest, GenerateResponse>, StreamedCall {
  private final List<Integer> tokens = new ArrayList<>();
  private final StringBuilder text = new StringBuilder();

  /** When each message with tokens arrived (nanoTime), with how many tokens it brought. */
  private final TokenArrivals arrivals = new TokenArrivals(System.nanoTime());

  private final CompletableFuture<GenerateCall> done = new CompletableFuture<>();
  private final CompletableFuture<Void> first = new CompletableFuture<>();
  private volatile ClientCallStreamObserver<GenerateRequest> call;
  private String finishReason = "";
  private Usage usage;
  private int finishes;
  private volatile Status status;

  private final IntConsumer onTokens;

  private GenerateCall(IntConsumer onTokens) {
    this.onTokens = onTokens;
  }

  /** Starts the call on {@code channel} (its call credentials on {@code stub}) with a deadline. */
  public static GenerateCall start(
      InferenceGrpc.InferenceStub stub, GenerateRequest request, Duration deadline) {
    return start(stub, request, deadline, n -> {});
  }

  /** As {@link #start}, {@code onTokens} hearing each message's token count as it arrives. */
  public static GenerateCall start(
      InferenceGrpc.InferenceStub stub,
      GenerateRequest request,
      Duration deadline,
      IntConsumer onTokens) {
    GenerateCall c = new GenerateCall(onTokens);
    stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS).generate(request, c);
    return c;
  }

  public static GenerateCall start(Channel channel, GenerateRequest request, Duration deadline) {
    return start(InferenceGrpc.newStub(channel), request, deadline);
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
    call = requestStream;
  }

  @Override
  public synchronized void onNext(GenerateResponse m) {
    if (m.getTokenIdsCount() > 0) {
      arrivals.add(System.nanoTime(), m.getTokenIdsCount());
      onTokens.accept(m.getTokenIdsCount());
    }
    tokens.addAll(m.getTokenIdsList());
    text.append(m.getText());
    if (!m.getFinishReason().isEmpty()) {
      finishes++;
      finishReason = m.getFinishReason();
      usage = m.getUsage();
    }
    first.complete(null);
  }

  @Override
  public void onError(Throwable t) {
    end(Status.fromThrowable(t));
  }

  @Override
  public void onCompleted() {
    end(Status.OK);
  }

  private void end(Status s) {
    arrivals.end(System.nanoTime());
    status = s;
    first.complete(null);
    done.complete(this);
  }

  /** Cancels the call, as a client that goes away. */
  public void cancel() {
    call.cancel("the client went away", null);
  }

  @Override
  public CompletableFuture<GenerateCall> done() {
    return done;
  }

  /** Completes with the first message (or the end). */
  public CompletableFuture<Void> first() {
    return first;
  }

  /** Waits for the end. */
  public GenerateCall await(Duration timeout) throws Exception {
    return done.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  public Status status() {
    return status;
  }

  @Override
  public boolean ok() {
    return status != null && status.isOk();
  }

  @Override
  public String failure() {
    return status == null ? "UNFINISHED" : status.getCode().name();
  }

  @Override
  public synchronized int tokenCount() {
    return tokens.size();
  }

  public synchronized int[] tokens() {
    return tokens.stream().mapToInt(Integer::intValue).toArray();
  }

  public synchronized String text() {
    return text.toString();
  }

  /** The finish reason of the last message ("" when none came). */
  public synchronized String finishReason() {
    return finishReason;
  }

  /** Messages that carried a finish reason (one for a stream that ended well). */
  public synchronized int finishes() {
    return finishes;
  }

  public synchronized Usage usage() {
    return usage;
  }

  @Override
  public TokenArrivals arrivals() {
    return arrivals;
  }
}
