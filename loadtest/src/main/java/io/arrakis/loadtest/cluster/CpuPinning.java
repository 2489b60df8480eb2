package io.arrakis.loadtest.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Pins a local cluster's processes to CPUs with util-linux's {@code taskset}, so that router and
 * expert nodes on one machine get cores of their own, as on their own machines in a deployment.
 */
public final class CpuPinning {
  private static final Path TASKSET = Path.of("/usr/bin/taskset");

  private CpuPinning() {}

  /** Whether pinning can give anything a core of its own here: two CPUs or more, and taskset. */
  public static boolean available() {
    return Runtime.getRuntime().availableProcessors() >= 2 && Files.isExecutable(TASKSET);
  }

  /** Why {@link #available()} is false, in words: CPUs and whether taskset is there. */
  public static String unavailableBecause() {
    return Runtime.getRuntime().availableProcessors()
        + " CPUs, taskset "
        + (Files.isExecutable(TASKSET) ? "present" : "missing");
  }

  /**
   * Pins every thread of process {@code pid} to {@code cpus} (taskset's list, e.g. "0" or "1-3");
   * the threads it starts later inherit the mask.
   *
   * @throws IllegalStateException if taskset fails or takes over 10 s
   */
  public static void pin(long pid, String cpus) throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder(TASKSET.toString(), "-a", "-p", "-c", cpus, Long.toString(pid))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IllegalStateException("taskset -c " + cpus + " of process " + pid + " failed");
    }
  }
}
