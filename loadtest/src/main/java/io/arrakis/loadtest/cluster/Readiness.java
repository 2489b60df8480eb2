package io.arrakis.loadtest.cluster;

import io.arrakis.security.ClientSecurity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Waits, bounded, until started processes have written their port file and answer SERVING. A
 * process that exits first, or the deadline, ends the wait with the tail of the guilty log.
 */
final class Readiness {
  private static final Duration POLL = Duration.ofMillis(100);
  private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);
  private static final int TAIL_LINES = 25;

  /** A process being waited for. */
  record Starting(String id, Process process, Path portFile, Path log) {}

  private Readiness() {}

  /** Waits for all; returns id → port. {@code security}: how to reach the processes. */
  static Map<String, Integer> await(
      List<Starting> processes, Instant deadline, ClientSecurity security)
      throws InterruptedException, IOException {
    Map<String, Integer> ready = new HashMap<>();
    Map<String, HealthProbe> probes = new HashMap<>();
    try {
      while (ready.size() < processes.size()) {
        for (Starting s : processes) {
          if (ready.containsKey(s.id())) {
            continue;
          }
          if (!s.process().isAlive()) {
            throw new ClusterException(
                s.id()
                    + " exited with code "
                    + s.process().exitValue()
                    + " before serving; last lines of "
                    + s.log()
                    + ":",
                LogTail.indented(s.log(), TAIL_LINES));
          }
          Integer port = readPort(s.portFile());
          if (port == null) {
            continue;
          }
          HealthProbe probe = probes.get(s.id());
          if (probe == null) {
            probe = new HealthProbe(LocalCluster.HOST, port, security);
            probes.put(s.id(), probe);
          }
          if (probe.serving(PROBE_TIMEOUT)) {
            ready.put(s.id(), port);
          }
        }
        if (ready.size() == processes.size()) {
          break;
        }
        if (Instant.now().isAfter(deadline)) {
          throw timeout(processes, ready);
        }
        Thread.sleep(POLL.toMillis());
      }
      return ready;
    } finally {
      probes.values().forEach(HealthProbe::close);
    }
  }

  private static ClusterException timeout(List<Starting> processes, Map<String, Integer> ready) {
    List<String> late = new ArrayList<>();
    Starting first = null;
    for (Starting s : processes) {
      if (!ready.containsKey(s.id())) {
        late.add(s.id());
        first = first == null ? s : first;
      }
    }
    return new ClusterException(
        "timed out waiting for "
            + String.join(", ", late)
            + " to serve; last lines of "
            + first.log()
            + ":",
        LogTail.indented(first.log(), TAIL_LINES));
  }

  /** The port a process wrote (atomically, once serving), or null while there is none. */
  private static Integer readPort(Path file) {
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      return Integer.parseInt(Files.readString(file).trim());
    } catch (IOException | NumberFormatException e) {
      return null;
    }
  }
}
