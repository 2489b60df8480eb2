package io.arrakis.expert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An expert node in its own JVM, started from the test classpath; stopped with SIGTERM on close.
 */
final class NodeProcess implements AutoCloseable {
  final Process process;
  final int port;
  final Path log;

  private NodeProcess(Process process, int port, Path log) {
    this.process = process;
    this.port = port;
    this.log = log;
  }

  static NodeProcess start(Path workDir, List<String> jvmArgs, String... args)
      throws IOException, InterruptedException {
    Path portFile = workDir.resolve("port");
    Path log = workDir.resolve("node.log");
    List<String> cmd = command(jvmArgs, args);
    cmd.addAll(List.of("--port", "0", "--port-file", portFile.toString()));
    Process p = processBuilder(cmd, log).start();
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!Files.exists(portFile)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IllegalStateException(
            "expert node did not start; its log:\n" + Files.readString(log));
      }
      Thread.sleep(50);
    }
    return new NodeProcess(p, Integer.parseInt(Files.readString(portFile).trim()), log);
  }

  /** What a node that exits by itself (a start-up error) printed, stdout and stderr together. */
  record Exited(int code, String output) {}

  static Exited runToExit(Path workDir, String... args) throws IOException, InterruptedException {
    return runToExitWithClasspath(workDir, System.getProperty("java.class.path"), args);
  }

  /** As {@link #runToExit(Path, String...)}, with a classpath of the caller's choosing. */
  static Exited runToExitWithClasspath(Path workDir, String classpath, String... args)
      throws IOException, InterruptedException {
    Path log = workDir.resolve("node.log");
    Process p = processBuilder(command(List.of(), classpath, args), log).start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(
          "expert node did not exit; its log:\n" + Files.readString(log));
    }
    return new Exited(p.exitValue(), Files.readString(log));
  }

  private static List<String> command(List<String> jvmArgs, String... args) {
    return command(jvmArgs, System.getProperty("java.class.path"), args);
  }

  private static List<String> command(List<String> jvmArgs, String classpath, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmArgs);
    cmd.add(
        "-Dorg.bytedeco.javacpp.cachedir="
            + System.getProperty(
                "org.bytedeco.javacpp.cachedir",
                Path.of(System.getProperty("user.home"), ".cache", "arrakis", "javacpp")
                    .toString()));
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.add("io.arrakis.expert.cli.ExpertNodeMain");
    cmd.addAll(List.of(args));
    return cmd;
  }

  private static ProcessBuilder processBuilder(List<String> cmd, Path log) {
    ProcessBuilder pb =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("OMP_NUM_THREADS", "1");
    return pb;
  }

  /** Resident memory of the process, from /proc. */
  long rssBytes() throws IOException {
    for (String line :
        Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    throw new IllegalStateException("no VmRSS for pid " + process.pid());
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
