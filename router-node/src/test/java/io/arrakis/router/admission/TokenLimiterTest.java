package io.arrakis.router.admission;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class TokenLimiterTest {
  static final long FAST = TimeUnit.MILLISECONDS.toNanos(1);
  static final long SLOW = TimeUnit.SECONDS.toNanos(1);

  @Test
  void aFixedLimitRefusesWhatWouldPassItAndAdmitsAgainAfterRelease() {
    TokenLimiter l = new TokenLimiter(TokenLimiter.Settings.fixed(100));
    assertThat(l.tryAcquire(60)).isTrue();
    assertThat(l.tryAcquire(40)).isTrue();
    assertThat(l.tryAcquire(1)).isFalse();
    l.release(60, SLOW, true);
    assertThat(l.limit()).isEqualTo(100);
    assertThat(l.tryAcquire(50)).isTrue();
    assertThat(l.inFlight()).isEqualTo(90);
  }

  @Test
  void aCallLargerThanTheLimitGoesAloneButNotBesideOthers() {
    TokenLimiter l = new TokenLimiter(TokenLimiter.Settings.fixed(100));
    assertThat(l.tryAcquire(500)).isTrue();
    assertThat(l.tryAcquire(1)).isFalse();
    l.release(500, FAST, false);
    assertThat(l.tryAcquire(1)).isTrue();
    assertThat(l.tryAcquire(500)).isFalse();
  }

  @Test
  void anAdaptiveLimitShrinksOnSlowOrOverloadedCallsAndGrowsBackWhenBusyAndFast() {
    TokenLimiter l =
        new TokenLimiter(
            new TokenLimiter.Settings(
                1000, true, 100, 4000, TimeUnit.MILLISECONDS.toNanos(100), 0.5));
    l.tryAcquire(100);
    l.release(100, SLOW, false);
    assertThat(l.limit()).isEqualTo(500);
    l.tryAcquire(100);
    l.release(100, FAST, true);
    assertThat(l.limit()).isEqualTo(250);
    for (int i = 0; i < 20; i++) {
      l.release(0, SLOW, true);
    }
    assertThat(l.limit()).isEqualTo(100);
    for (int round = 0; round < 50; round++) { // saturate, then all finish fast
      int taken = 0;
      while (l.tryAcquire(100)) {
        taken++;
      }
      for (int i = 0; i < taken; i++) {
        l.release(100, FAST, false);
      }
    }
    assertThat(l.limit()).isGreaterThan(1000).isLessThanOrEqualTo(4000);
  }

  @Test
  void anIdleAdaptiveLimitDoesNotDriftUp() {
    TokenLimiter l =
        new TokenLimiter(
            new TokenLimiter.Settings(
                1000, true, 100, 4000, TimeUnit.MILLISECONDS.toNanos(100), 0.5));
    for (int i = 0; i < 100; i++) {
      l.tryAcquire(1);
      l.release(1, FAST, false);
    }
    assertThat(l.limit()).isEqualTo(1000);
  }

  /** Every release's step of an adaptive limit counts, however many threads release at once. */
  @Test
  void concurrentReleasesEachMoveTheAdaptiveLimit() throws Exception {
    double backoff = 0.9999;
    int threads = 8;
    int each = 2_000;
    TokenLimiter l =
        new TokenLimiter(
            new TokenLimiter.Settings(
                1_000_000, true, 1, 1_000_000, TimeUnit.MILLISECONDS.toNanos(100), backoff));
    CyclicBarrier start = new CyclicBarrier(threads);
    List<Thread> ts = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      Thread th =
          new Thread(
              () -> {
                try {
                  start.await();
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
                for (int i = 0; i < each; i++) {
                  l.release(0, SLOW, true);
                }
              });
      th.start();
      ts.add(th);
    }
    for (Thread th : ts) {
      th.join();
    }
    double want = 1_000_000;
    for (int i = 0; i < threads * each; i++) {
      want = Math.max(1, want * backoff);
    }
    assertThat(l.limit())
        .as("limit after %d overloaded releases", threads * each)
        .isEqualTo((long) want);
  }
}
