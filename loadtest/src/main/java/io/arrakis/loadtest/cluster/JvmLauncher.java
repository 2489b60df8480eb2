package io.arrakis.loadtest.cluster;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Starts a main class as a separate JVM, stdin from /dev/null and stdout + stderr into a log file.
 * The children outlive the JVM that started them, as {@code ./arrakis up} needs.
 *
 * <p>They stay in the caller's session and process group. A new session per node ({@code setsid},
 * as before) kept the terminal's Ctrl-C from them, but on Linux with autogroup scheduling (the
 * default of many distributions) every session is a scheduling group of its own with an equal share
 * of the CPUs, and a group that is mostly asleep (the router's I/O threads, a load tester) waits
 * for a core longer each time it wakes: with the router, two expert nodes and {@code loadtest
 * serve} on two cores, the client's TTFT exceeded the router's by 12-15 ms with every node in a
 * session of its own and by 4-8 ms with all in one (README, "Known gap"). Ctrl-C during a command
 * that started nodes now reaches them too, and each stops on its own as the command stops them
 * ({@code StopOnExit}); once that command has ended, the shell's next commands run in process
 * groups of their own, so the terminal's signals no longer reach the nodes.
 */
final class JvmLauncher {
  private static final String CACHE_PROPERTY = "org.bytedeco.javacpp.cachedir";

  private final List<String> jvmOptions;
  private final String classpath;

  /**
   * @param classpath the children's classpath (this JVM's, or a {@link ClasspathSnapshot} of it)
   */
  public JvmLauncher(List<String> jvmOptions, String classpath) {
    this.jvmOptions = List.copyOf(jvmOptions);
    this.classpath = classpath;
  }

  /** The command line that runs {@code mainClass} with {@code args}. */
  public List<String> command(String mainClass, List<String> args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    // the expert kernel's vector loops (model's kernel.PanelMatrix); without it, its plain-Java
    // fallback
    cmd.add("--add-modules");
    cmd.add("jdk.incubator.vector");
    // logs in UTF-8 whatever the locale, as the launcher runs every command (see ./arrakis); from
    // JDK 18 stdout and stderr take their own charset from the locale
    cmd.add("-Dfile.encoding=UTF-8");
    cmd.add("-Dstdout.encoding=UTF-8");
    cmd.add("-Dstderr.encoding=UTF-8");
    cmd.addAll(jvmOptions);
    // JavaCPP unpacks ~390 MB of natives per cache folder: every process shares the build's one
    cmd.add(
        "-D"
            + CACHE_PROPERTY
            + "="
            + System.getProperty(
                CACHE_PROPERTY,
                Path.of(System.getProperty("user.home"), ".cache", "arrakis", "javacpp")
                    .toString()));
    cmd.add("-cp");
    cmd.add(classpath);
    cmd.add(mainClass);
    cmd.addAll(args);
    return cmd;
  }

  /** Starts the process, truncating {@code log}. */
  public Process start(String mainClass, List<String> args, Path log) throws IOException {
    return start(mainClass, args, log, Map.of());
  }

  /** As {@link #start(String, List, Path)}, with extra environment variables for the child. */
  public Process start(String mainClass, List<String> args, Path log, Map<String, String> env)
      throws IOException {
    Files.createDirectories(log.toAbsolutePath().getParent());
    ProcessBuilder pb =
        new ProcessBuilder(command(mainClass, args))
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()))
            .redirectErrorStream(true);
    // one native thread per ND4J op: several nodes share the cores, each runs one batch per thread
    pb.environment().put("OMP_NUM_THREADS", "1");
    pb.environment().putAll(env);
    return pb.start();
  }
}
