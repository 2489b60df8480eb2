package io.arrakis.router.pekko;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A Pekko future's continuations run where Pekko completes it (the replying actor's thread), not on
 * a pool thread of their own, once it has been through {@link PekkoFutures#plain}.
 */
class PekkoFuturesTest {
  private static final ActorTestKit testKit = ActorTestKit.create();
  private static final Duration WAIT = Duration.ofSeconds(5);

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  /**
   * Asks {@code continuation}'s thread of a Pekko ask answered, once the continuation is in place,
   * from a thread named "answering".
   */
  private static String threadOf(
      Function<CompletionStage<String>, CompletionStage<String>> continuation) throws Exception {
    TestProbe<ActorRef<String>> asked = testKit.createTestProbe();
    CompletionStage<String> seen =
        continuation.apply(AskPattern.ask(asked.ref(), r -> r, WAIT, testKit.scheduler()));
    ActorRef<String> replyTo = asked.receiveMessage();
    Thread answering = new Thread(() -> replyTo.tell("answer"), "answering");
    answering.start();
    answering.join(WAIT.toMillis());
    return seen.toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
  }

  @Test
  void continuationsRunOnTheThreadThatAnswered() throws Exception {
    assertThat(
            threadOf(
                answer ->
                    PekkoFutures.plain(answer).thenApply(a -> Thread.currentThread().getName())))
        .isEqualTo("answering");
  }

  @Test
  void withoutItTheSameContinuationMovesToAnotherThread() throws Exception {
    // the reason for PekkoFutures: the Scala view of the answer runs even a plain thenApply
    // asynchronously (on the common pool; on fewer than 3 cores, a new thread each time)
    assertThat(threadOf(answer -> answer.thenApply(a -> Thread.currentThread().getName())))
        .isNotEqualTo("answering");
  }

  @Test
  void aFailureIsPassedOnAsIs() {
    ActorRef<ActorRef<String>> silent = testKit.spawn(Behaviors.ignore());
    CompletableFuture<String> answer =
        PekkoFutures.plain(
            AskPattern.ask(silent, r -> r, Duration.ofMillis(50), testKit.scheduler()));

    assertThatThrownBy(() -> answer.get(WAIT.toSeconds(), TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(TimeoutException.class);
  }

  @Test
  void aCompletedStageGivesACompletedFuture() {
    assertThat(PekkoFutures.plain(CompletableFuture.completedFuture(7))).isCompletedWithValue(7);
  }
}
