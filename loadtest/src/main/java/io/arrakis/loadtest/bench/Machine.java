package io.arrakis.loadtest.bench;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** What ran a benchmark: figures mean little without the CPU, cores and JVM beside them. */
public final class Machine {
  private Machine() {}

  public static ObjectNode describe() {
    ObjectNode m = JsonNodeFactory.instance.objectNode();
    m.put("cpu", cpu());
    m.put("cores", Runtime.getRuntime().availableProcessors());
    m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
    m.put("arch", System.getProperty("os.arch"));
    m.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    m.put("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
    String omp = System.getenv("OMP_NUM_THREADS");
    if (omp != null) {
      m.put("omp_num_threads", omp);
    }
    return m;
  }

  /** The CPU model, or the architecture where it cannot be read. */
  public static String cpu() {
    return cpuModel().orElse(System.getProperty("os.arch"));
  }

  // Linux only; elsewhere the architecture stands in
  private static Optional<String> cpuModel() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
          .filter(l -> l.startsWith("model name"))
          .map(l -> l.substring(l.indexOf(':') + 1).trim())
          .findFirst();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }
}
