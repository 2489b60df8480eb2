package io.arrakis.loadtest.cluster;

import java.time.Instant;
import java.util.Optional;

/**
 * A process known by pid and start time, so that a pid the system has since given to another
 * process is not mistaken for ours (the state file outlives the processes it names).
 */
public record ProcessRef(long pid, long startMillis) {
  /** Start times read twice from /proc can differ by rounding; a reused pid starts much later. */
  private static final long START_TOLERANCE_MS = 1000;

  public static ProcessRef of(ProcessHandle handle) {
    long start = handle.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    return new ProcessRef(handle.pid(), start);
  }

  /** The live process this names, if it is still running. */
  public Optional<ProcessHandle> live() {
    return ProcessHandle.of(pid)
        .filter(ProcessHandle::isAlive)
        .filter(
            h -> {
              Optional<Instant> start = h.info().startInstant();
              return startMillis == 0
                  || start.isEmpty()
                  || Math.abs(start.get().toEpochMilli() - startMillis) <= START_TOLERANCE_MS;
            });
  }

  public boolean alive() {
    return live().isPresent();
  }
}
