package io.arrakis.router.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** A unary call answered exactly once from a stage, whatever goes wrong on the way. */
class UnaryReplyTest {

  @Test
  void aValueIsAnsweredWithWhatItBuildsThenCompleted() {
    Recorder out = new Recorder();

    UnaryReply.when(
        CompletableFuture.completedFuture(20),
        out,
        v -> "answer " + (v + 1),
        UnaryReplyTest::noAnswer);

    assertThat(out.events).containsExactly("next answer 21", "completed");
  }

  /** A builder that throws (a bug) would otherwise leave the call open until its deadline. */
  @Test
  void anAnswerThatCannotBeBuiltIsInternalNamingTheFailure() {
    Recorder out = new Recorder();

    UnaryReply.when(
        CompletableFuture.completedFuture(1),
        out,
        v -> {
          throw new IllegalStateException("sizes disagree");
        },
        UnaryReplyTest::noAnswer);

    assertThat(out.events).hasSize(1);
    assertThat(out.status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(out.status.getDescription()).contains("sizes disagree");
  }

  @Test
  void aBuilderRefusesWithItsOwnStatus() {
    Recorder out = new Recorder();

    UnaryReply.when(
        CompletableFuture.completedFuture(1),
        out,
        v -> {
          throw Status.UNAVAILABLE.withDescription("no expert node").asRuntimeException();
        },
        UnaryReplyTest::noAnswer);

    assertThat(out.events).hasSize(1);
    assertThat(out.status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(out.status.getDescription()).isEqualTo("no expert node");
  }

  @Test
  void aFailedStageGetsTheStatusOfItsCauseUnwrapped() {
    Recorder out = new Recorder();
    CompletableFuture<Integer> stage = new CompletableFuture<>();

    UnaryReply.when(stage.thenApply(v -> v), out, v -> "never", UnaryReplyTest::noAnswer);
    stage.completeExceptionally(new TimeoutException("ask timed out"));

    assertThat(out.events).hasSize(1);
    assertThat(out.status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(out.status.getDescription())
        .isEqualTo("no answer: java.util.concurrent.TimeoutException: ask timed out");
  }

  private static Status noAnswer(Throwable t) {
    return Status.UNAVAILABLE.withDescription("no answer: " + t);
  }

  /** What the call heard, in order. */
  private static final class Recorder implements StreamObserver<String> {
    final List<String> events = new ArrayList<>();
    Status status;

    @Override
    public void onNext(String value) {
      events.add("next " + value);
    }

    @Override
    public void onError(Throwable t) {
      events.add("error");
      status = ((StatusRuntimeException) t).getStatus();
    }

    @Override
    public void onCompleted() {
      events.add("completed");
    }
  }
}
