package io.arrakis.router;

import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.GenerateResponse;
import io.arrakis.proto.v1.InferenceGrpc;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One Generate call as a client sees it: the messages streamed, how it ended, and a way to cancel
 * it.
 */
final class GenerateStream implements ClientResponseObserver<GenerateRequest, GenerateResponse> {
  final List<GenerateResponse> messages = new ArrayList<>();
  final CompletableFuture<Status> closed = new CompletableFuture<>();
  final CompletableFuture<Void> first = new CompletableFuture<>();
  private volatile ClientCallStreamObserver<GenerateRequest> call;

  static GenerateStream start(Channel channel, GenerateRequest request) {
    return start(InferenceGrpc.newStub(channel), request);
  }

  /** On {@code stub} (its call credentials, if any). */
  static GenerateStream start(InferenceGrpc.InferenceStub stub, GenerateRequest request) {
    GenerateStream s = new GenerateStream();
    stub.withDeadlineAfter(60, TimeUnit.SECONDS).generate(request, s);
    return s;
  }

  @Override
  public void beforeStart(ClientCallStreamObserver<GenerateRequest> requestStream) {
    call = requestStream;
  }

  @Override
  public synchronized void onNext(GenerateResponse value) {
    messages.add(value);
    first.complete(null);
  }

  @Override
  public void onError(Throwable t) {
    closed.complete(Status.fromThrowable(t));
    first.complete(null);
  }

  @Override
  public void onCompleted() {
    closed.complete(Status.OK);
  }

  void cancel() {
    call.cancel("the client went away", null);
  }

  Status await() throws Exception {
    return closed.get(60, TimeUnit.SECONDS);
  }

  synchronized int[] tokens() {
    return messages.stream()
        .flatMap(m -> m.getTokenIdsList().stream())
        .mapToInt(Integer::intValue)
        .toArray();
  }

  synchronized String text() {
    StringBuilder b = new StringBuilder();
    messages.forEach(m -> b.append(m.getText()));
    return b.toString();
  }

  synchronized GenerateResponse last() {
    return messages.get(messages.size() - 1);
  }
}
