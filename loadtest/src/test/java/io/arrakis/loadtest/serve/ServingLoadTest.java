package io.arrakis.loadtest.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The serving load's loops end, and say why, when the load tester's own code fails as a stream
 * ends, instead of waiting for a caller that never comes back until the run's bound (10 minutes
 * past its window).
 */
class ServingLoadTest {
  private static final Executor SOON = CompletableFuture.delayedExecutor(1, TimeUnit.MILLISECONDS);

  /** Closed loop of 2, a window of 30 s: far longer than any of these tests may take. */
  private static final ServingLoad.Options CLOSED_LOOP =
      new ServingLoad.Options(2, 4, 1, Duration.ZERO, Duration.ofSeconds(30), 100, 7);

  /** A client whose streams each end 1 ms after they start, with one token. */
  static final class OneTokenClient implements ServingLoad.Client {
    final AtomicInteger started = new AtomicInteger();

    @Override
    public StreamedCall start(String id, int[] prompt, int outputTokens, IntConsumer onTokens) {
      started.incrementAndGet();
      return new OneTokenCall(onTokens);
    }
  }

  private static final class OneTokenCall implements StreamedCall {
    private final TokenArrivals arrivals = new TokenArrivals(System.nanoTime());
    private final CompletableFuture<OneTokenCall> done = new CompletableFuture<>();

    OneTokenCall(IntConsumer onTokens) {
      SOON.execute(
          () -> {
            arrivals.add(System.nanoTime(), 1);
            onTokens.accept(1);
            arrivals.end(System.nanoTime());
            done.complete(this);
          });
    }

    @Override
    public CompletableFuture<OneTokenCall> done() {
      return done;
    }

    @Override
    public boolean ok() {
      return true;
    }

    @Override
    public String failure() {
      return null;
    }

    @Override
    public int tokenCount() {
      return 1;
    }

    @Override
    public TokenArrivals arrivals() {
      return arrivals;
    }
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aClientThatThrowsOnStartingEndsTheRunWithItsError() {
    OneTokenClient fine = new OneTokenClient();
    ServingLoad.Client failing =
        (id, prompt, outputTokens, onTokens) -> {
          if (fine.started.get() == 5) {
            throw new IllegalArgumentException("boom at the sixth stream");
          }
          return fine.start(id, prompt, outputTokens, onTokens);
        };

    assertThatThrownBy(() -> new ServingLoad(failing, CLOSED_LOOP).run(r -> {}))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the serving load broke off")
        .hasRootCauseMessage("boom at the sixth stream");
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aProgressCallbackThatThrowsEndsTheRunWithItsError() {
    OneTokenClient client = new OneTokenClient();
    AtomicInteger heard = new AtomicInteger();

    assertThatThrownBy(
            () ->
                new ServingLoad(client, CLOSED_LOOP)
                    .run(
                        r -> {
                          if (heard.incrementAndGet() == 3) {
                            throw new IllegalStateException("progress line broke");
                          }
                        }))
        .isInstanceOf(IllegalStateException.class)
        .hasRootCauseMessage("progress line broke");
    // the other caller stopped too, at its next stream, rather than running out the window
    assertThat(client.started.get()).isLessThan(10);
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aWellBehavedClientRunsOutItsWindow() throws Exception {
    OneTokenClient client = new OneTokenClient();
    ServingLoad.Options shortWindow =
        new ServingLoad.Options(2, 4, 1, Duration.ZERO, Duration.ofMillis(300), 100, 7);

    ServingResult r = new ServingLoad(client, shortWindow).run(x -> {});

    assertThat(r.requests()).isGreaterThan(10).isEqualTo(client.started.get());
    assertThat(r.failed()).isZero();
    assertThat(r.outputTokens()).isEqualTo(r.requests());
  }

  @Test
  void everyPromptBeginsWithTheSharedPrefixThenItsOwnIds() {
    ServingLoad load =
        new ServingLoad(
            new OneTokenClient(),
            new ServingLoad.Options(
                2, 6, 1, 0.5, 0, Duration.ZERO, Duration.ofSeconds(1), 100, 7, 0, 20));
    SplittableRandom random = new SplittableRandom(3);
    List<int[]> prompts = IntStream.range(0, 50).mapToObj(i -> load.prompt(random)).toList();
    int[] prefix = Arrays.copyOf(prompts.get(0), 20);
    for (int[] p : prompts) {
      assertThat(p.length).isBetween(20 + 3, 20 + 9);
      assertThat(Arrays.copyOf(p, 20)).containsExactly(prefix);
      assertThat(Arrays.stream(p).allMatch(t -> t >= 0 && t < 100)).isTrue();
    }
    // the prompts' own ids differ, and the prefix is not the first prompt's own ids repeated
    assertThat(prompts.stream().map(p -> Arrays.toString(Arrays.copyOfRange(p, 20, p.length))))
        .doesNotHaveDuplicates();
    assertThat(Arrays.stream(prefix).distinct().count()).isGreaterThan(10);
  }
}
