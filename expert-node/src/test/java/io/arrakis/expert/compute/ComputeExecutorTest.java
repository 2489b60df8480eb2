package io.arrakis.expert.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ComputeExecutorTest {

  @Test
  void rejectsAtOnceWhenThreadsAndQueueAreFull() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    AtomicInteger ran = new AtomicInteger();
    try (ComputeExecutor executor = new ComputeExecutor(1, 2)) {
      executor.execute(
          () -> {
            started.countDown();
            await(release);
            ran.incrementAndGet();
          });
      started.await(5, TimeUnit.SECONDS);
      executor.execute(ran::incrementAndGet);
      executor.execute(ran::incrementAndGet);
      assertThat(executor.queued()).isEqualTo(2);

      assertThatThrownBy(() -> executor.execute(ran::incrementAndGet))
          .isInstanceOf(RejectedExecutionException.class);

      release.countDown();
      executor.shutdown(Duration.ofSeconds(5));
      assertThat(ran).hasValue(3);
    }
  }

  @Test
  void shutdownLetsQueuedWorkFinish() throws Exception {
    AtomicInteger ran = new AtomicInteger();
    ComputeExecutor executor = new ComputeExecutor(1, 10);
    for (int i = 0; i < 10; i++) {
      executor.execute(
          () -> {
            sleep(5);
            ran.incrementAndGet();
          });
    }
    executor.shutdown(Duration.ofSeconds(10));
    assertThat(ran).hasValue(10);
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
