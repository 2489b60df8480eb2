package io.arrakis.loadtest.chaos;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * CPU time of every process on this machine and the hypervisor's steal, from /proc, so that a
 * measurement that went wrong can say what else ran meanwhile (on a shared 2-core machine a process
 * outside the test that takes a core for a while halves a cluster's throughput). Linux only;
 * elsewhere both snapshots are empty and nothing is named.
 */
final class HostCpu {
  /** /proc's clock ticks (USER_HZ), 100 on every Linux architecture the project runs on. */
  private static final double TICKS_PER_SECOND = 100;

  private final Map<Long, Process> processes;
  private final long stealTicks;

  private record Process(String name, long ticks) {}

  private HostCpu(Map<Long, Process> processes, long stealTicks) {
    this.processes = processes;
    this.stealTicks = stealTicks;
  }

  static HostCpu now() {
    Map<Long, Process> p = new HashMap<>();
    try (Stream<Path> dirs = Files.list(Path.of("/proc"))) {
      for (Path d : dirs.toList()) {
        String name = d.getFileName().toString();
        if (name.chars().allMatch(Character::isDigit)) {
          Process read = read(d.resolve("stat"));
          if (read != null) {
            p.put(Long.parseLong(name), read);
          }
        }
      }
    } catch (IOException e) {
      return new HostCpu(Map.of(), 0);
    }
    return new HostCpu(p, steal());
  }

  /**
   * utime + stime of /proc/PID/stat (fields 14 and 15; the name in parentheses may hold spaces).
   */
  private static Process read(Path stat) {
    try {
      String s = Files.readString(stat);
      int open = s.indexOf('(');
      int close = s.lastIndexOf(')');
      String[] f = s.substring(close + 2).split(" ");
      return new Process(
          s.substring(open + 1, close), Long.parseLong(f[11]) + Long.parseLong(f[12]));
    } catch (IOException | RuntimeException gone) {
      return null; // exited meanwhile
    }
  }

  private static long steal() {
    try {
      String[] cpu = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
      return cpu.length > 8 ? Long.parseLong(cpu[8]) : 0;
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }

  /** CPU seconds that the processes {@code pids} took since {@code before}. */
  double secondsSince(HostCpu before, Set<Long> pids) {
    long ticks = 0;
    for (long pid : pids) {
      Process now = processes.get(pid);
      Process was = before.processes.get(pid);
      if (now != null) {
        ticks += now.ticks() - (was == null ? 0 : was.ticks());
      }
    }
    return ticks / TICKS_PER_SECOND;
  }

  /** Seconds of CPU the hypervisor gave other guests since {@code before}, over all CPUs. */
  double stealSecondsSince(HostCpu before) {
    return (stealTicks - before.stealTicks) / TICKS_PER_SECOND;
  }

  /**
   * CPU seconds since {@code before} of each process but {@code ours} that took any, by name and
   * pid (one that began and ended in between is not seen).
   */
  Map<String, Double> othersSince(HostCpu before, Set<Long> ours) {
    return processes.entrySet().stream()
        .filter(e -> !ours.contains(e.getKey()))
        .collect(
            Collectors.toMap(
                e -> e.getValue().name() + " " + e.getKey(),
                e -> {
                  Process was = before.processes.get(e.getKey());
                  long since = e.getValue().ticks() - (was == null ? 0 : was.ticks());
                  return since / TICKS_PER_SECOND;
                }))
        .entrySet()
        .stream()
        .filter(e -> e.getValue() > 0)
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
  }
}
