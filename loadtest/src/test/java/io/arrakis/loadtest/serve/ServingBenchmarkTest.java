package io.arrakis.loadtest.serve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.loadtest.load.Progress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A serving load test with its progress reports, about once a second. */
class ServingBenchmarkTest {
  /** Closed loop of 2 for 2.5 s: two or three reports. */
  private static final ServingLoad.Options SHORT =
      new ServingLoad.Options(2, 4, 1, Duration.ZERO, Duration.ofMillis(2500), 100, 7);

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void reportsProgressWhileTheLoadRuns() throws Exception {
    List<Progress> reports = new CopyOnWriteArrayList<>();

    ServingRun run =
        ServingBenchmark.run(
            "test", "nowhere", new ServingLoadTest.OneTokenClient(), SHORT, null, reports::add);

    assertThat(reports).isNotEmpty();
    assertThat(run.result().requests()).isPositive();
    assertThat(run.result().failed()).isZero();
  }

  @Test
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void aProgressReportThatThrowsFailsTheRun() {
    Progress.Listener broken =
        p -> {
          throw new IllegalArgumentException("a bug in the progress bar");
        };

    assertThatThrownBy(
            () ->
                ServingBenchmark.run(
                    "test", "nowhere", new ServingLoadTest.OneTokenClient(), SHORT, null, broken))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("the progress report failed")
        .hasRootCauseMessage("a bug in the progress bar");
  }
}
