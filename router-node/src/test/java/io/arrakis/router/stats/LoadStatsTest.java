package io.arrakis.router.stats;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.placement.ExpertId;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LoadStatsTest {
  /** A clock the test moves by hand; it can also hold up whoever reads it on one thread. */
  static final class HandClock extends Clock {
    volatile long millis = 1_700_000_000_000L;
    volatile Thread holdUp;
    final CountDownLatch reading = new CountDownLatch(1);
    final CountDownLatch letGo = new CountDownLatch(1);

    @Override
    public long millis() {
      if (Thread.currentThread() == holdUp) {
        reading.countDown();
        try {
          letGo.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return millis;
    }

    @Override
    public Instant instant() {
      return Instant.ofEpochMilli(millis());
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }

  @Test
  void loadSinceATimeSumsTheSecondsSinceThenAndOlderMeansSinceStart() {
    HandClock clock = new HandClock();
    LoadStats stats = new LoadStats(clock);
    long start = clock.millis;
    clock.millis += 1_000;
    stats.recordExperts(Map.of(new ExpertId(0, 1), 3L));
    stats.recordBatch("expert-0", 3);
    clock.millis += 5_000;
    stats.recordExperts(Map.of(new ExpertId(0, 1), 2L, new ExpertId(1, 4), 7L));
    stats.recordBatch("expert-0", 9);
    clock.millis += 1_000;
    LoadStats.Snapshot recent = stats.since(clock.millis - 2_000);
    assertThat(recent.expertTokens())
        .containsEntry(new ExpertId(0, 1), 2L)
        .containsEntry(new ExpertId(1, 4), 7L);
    assertThat(recent.nodeTokensAndBatches().get("expert-0")).containsExactly(9, 1);
    LoadStats.Snapshot all = stats.since(0);
    assertThat(all.sinceMillis()).isEqualTo(start);
    assertThat(all.expertTokens()).containsEntry(new ExpertId(0, 1), 5L);
    assertThat(all.nodeTokensAndBatches().get("expert-0")).containsExactly(12, 2);
  }

  /**
   * Reading the load (up to 600 one-second buckets) must not hold up the requests that record it:
   * here the reader is stopped in the middle of its read, and recording goes on regardless.
   */
  @Test
  void recordingIsNotHeldUpByAReaderOfTheWholeWindow() throws Exception {
    HandClock clock = new HandClock();
    LoadStats stats = new LoadStats(clock);
    for (int s = 0; s < LoadStats.WINDOW_SECONDS; s++) {
      clock.millis += 1_000;
      stats.recordExperts(Map.of(new ExpertId(0, s % 8), 1L));
    }
    long since = clock.millis - (LoadStats.WINDOW_SECONDS - 1) * 1_000L;
    CompletableFuture<LoadStats.Snapshot> read = new CompletableFuture<>();
    Thread reader = new Thread(() -> read.complete(stats.since(since)));
    clock.holdUp = reader;
    reader.start();
    assertThat(clock.reading.await(5, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> record =
        CompletableFuture.runAsync(
            () -> {
              stats.recordExperts(Map.of(new ExpertId(0, 0), 1L));
              stats.recordBatch("expert-0", 1);
            });
    try {
      record.get(2, TimeUnit.SECONDS);
    } finally {
      clock.letGo.countDown();
    }
    assertThat(
            read.get(5, TimeUnit.SECONDS).expertTokens().values().stream()
                .mapToLong(Long::longValue)
                .sum())
        .isGreaterThanOrEqualTo(LoadStats.WINDOW_SECONDS - 1);
  }
}
