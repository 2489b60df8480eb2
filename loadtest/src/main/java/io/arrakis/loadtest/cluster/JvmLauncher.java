package io.arrakis.loadtest.cluster;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Starts a main class as a separate JVM, detached from the caller: in a new session (so that the
 * terminal's Ctrl-C and hang-up reach only the command, which stops the children itself), stdin
 * from /dev/null and stdout + stderr into a log file. The children thus outlive the JVM that
 * started them, as {@code ./arrakis up} needs.
 */
final class JvmLauncher {
  private static final Path SETSID = Path.of("/usr/bin/setsid");
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
    // setsid(1) execs in place (the child is not a process-group leader), so the pid we see is the
    // JVM's
    if (Files.isExecutable(SETSID)) {
      cmd.add(SETSID.toString());
    }
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    // the expert kernel's vector loops (model's kernel.PanelMatrix); without it, its plain-Java
    // fallback
    cmd.add("--add-modules");
    cmd.add("jdk.incubator.vector");
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
