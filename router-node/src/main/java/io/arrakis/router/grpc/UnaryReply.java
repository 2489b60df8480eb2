package io.arrakis.router.grpc;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * Answers a unary call exactly once from a stage's outcome. The answer is built inside the reply,
 * so that a failure there reaches the client as a status instead of vanishing into a callback and
 * leaving the call open until its deadline: a {@link StatusRuntimeException} as its own status (how
 * a builder refuses), anything else as INTERNAL.
 */
final class UnaryReply {
  private UnaryReply() {}

  /**
   * Replies to {@code out} when {@code stage} completes.
   *
   * @param answer the answer to the stage's value
   * @param failed the status for the stage's own failure (its cause, unwrapped)
   */
  static <T, R> void when(
      CompletionStage<T> stage,
      StreamObserver<R> out,
      Function<? super T, ? extends R> answer,
      Function<Throwable, Status> failed) {
    stage.whenComplete(
        (value, failure) -> {
          if (failure != null) {
            out.onError(failed.apply(unwrap(failure)).asRuntimeException());
            return;
          }
          R r;
          try {
            r = answer.apply(value);
          } catch (StatusRuntimeException e) {
            out.onError(e);
            return;
          } catch (RuntimeException e) {
            out.onError(
                Status.INTERNAL
                    .withDescription("the answer could not be built: " + e)
                    .withCause(e)
                    .asRuntimeException());
            return;
          }
          out.onNext(r);
          out.onCompleted();
        });
  }

  private static Throwable unwrap(Throwable t) {
    return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
  }
}
