package io.arrakis.loadtest.simulate.calibrate;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalDouble;

/**
 * CPU time: of a process (the JDK's {@link ProcessHandle.Info#totalCpuDuration}, user + system),
 * and of the whole machine (Linux's {@code /proc/stat}), so that what other programs took from the
 * machine while a measurement ran can be told apart from what the measured processes took.
 */
final class CpuClock {
  private static final Path PROC_STAT = Path.of("/proc/stat");

  /** /proc/stat counts in USER_HZ, 100 on every Linux architecture Java runs on. */
  private static final double TICKS_PER_SECOND = 100;

  private CpuClock() {}

  /** CPU seconds process {@code pid} has used so far. */
  public static double process(long pid) {
    return ProcessHandle.of(pid)
        .flatMap(h -> h.info().totalCpuDuration())
        .map(d -> d.toNanos() / 1e9)
        .orElseThrow(
            () ->
                new IllegalStateException(
                    "the CPU time of process " + pid + " cannot be read (has it exited?)"));
  }

  /** CPU seconds this JVM has used so far. */
  public static double self() {
    return process(ProcessHandle.current().pid());
  }

  /**
   * CPU seconds this JVM's live JIT compiler threads have used so far; see {@link #compilation}.
   */
  public static double selfCompilation() {
    return compilation(ProcessHandle.current().pid());
  }

  /**
   * CPU seconds the live JIT compiler threads of HotSpot process {@code pid} have used so far
   * (Linux's {@code /proc/PID/task}; 0 elsewhere). Compiling is a passing cost of a young JVM, not
   * work per request: a measurement takes it off, and waits for it to fall quiet. A compiler thread
   * that exits takes its count with it, so differences are taken as at least 0.
   */
  public static double compilation(long pid) {
    double ticks = 0;
    try (DirectoryStream<Path> tasks =
        Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid), "task"))) {
      for (Path task : tasks) {
        String stat;
        try {
          stat = Files.readString(task.resolve("stat"));
        } catch (IOException exited) {
          continue;
        }
        int open = stat.indexOf('(');
        int close = stat.lastIndexOf(')');
        // HotSpot names them "C1 CompilerThread0", "C2 CompilerThread1": the kernel keeps 15 bytes
        if (open < 0 || close < open || !stat.substring(open + 1, close).contains("CompilerThre")) {
          continue;
        }
        String[] f = stat.substring(close + 2).trim().split("\\s+", -1);
        ticks +=
            Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime: fields 14 and 15 of stat
      }
    } catch (IOException | RuntimeException e) {
      return 0;
    }
    return ticks / TICKS_PER_SECOND;
  }

  /**
   * CPU seconds all processes of the machine have used since boot (busy time of every core), where
   * readable.
   */
  public static OptionalDouble machine() {
    try {
      List<String> lines = Files.readAllLines(PROC_STAT);
      String[] f = lines.get(0).trim().split("\\s+", -1);
      if (!f[0].equals("cpu")) {
        return OptionalDouble.empty();
      }
      long busy = 0;
      for (int i = 1; i < f.length && i <= 8; i++) {
        if (i != 4 && i != 5) { // idle and iowait are not busy; guest time is already in user
          busy += Long.parseLong(f[i]);
        }
      }
      return OptionalDouble.of(busy / TICKS_PER_SECOND);
    } catch (IOException | RuntimeException e) {
      return OptionalDouble.empty();
    }
  }
}
