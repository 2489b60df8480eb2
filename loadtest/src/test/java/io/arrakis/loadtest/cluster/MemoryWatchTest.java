package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Memory series of processes, sampled while load runs; a sample that fails is not lost quietly. */
class MemoryWatchTest {
  private static final Duration EVERY = Duration.ofMillis(20);

  @Test
  void samplesAProcessUntilStopped() throws Exception {
    ProcessRef self = new ProcessRef(ProcessHandle.current().pid(), 0);
    MemoryWatch watch = new MemoryWatch(List.of(member("self", self)), EVERY);
    Thread.sleep(200);

    List<MemoryWatch.Series> series = watch.stop();

    assertThat(series).hasSize(1);
    assertThat(series.get(0).member()).isEqualTo("self");
    assertThat(series.get(0).samples()).hasSizeGreaterThan(2);
    assertThat(series.get(0).lastMib()).isPositive();
  }

  @Test
  void aSampleThatFailsFailsTheStop() throws Exception {
    // no process to read: sampling throws on its first run
    MemoryWatch watch = new MemoryWatch(List.of(member("broken", null)), EVERY);
    Thread.sleep(100);

    assertThatThrownBy(watch::stop)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("sampling the processes' memory failed")
        .hasCauseInstanceOf(NullPointerException.class);
  }

  private static Member member(String id, ProcessRef process) {
    return new Member(id, process, 0, Path.of("unused.log"), List.of());
  }
}
