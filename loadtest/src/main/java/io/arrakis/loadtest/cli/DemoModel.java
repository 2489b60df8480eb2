package io.arrakis.loadtest.cli;

import io.arrakis.model.synthetic.GeneratorOptions;
import io.arrakis.model.synthetic.SyntheticModelGenerator;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;

/**
 * The demo's model: 4 layers of 16 experts, hidden 512, ffn 1024, top-2, Zipf skew 1.0, fixed seed
 * (and the benchmarks' and calibration's synthetic models, of other sizes). Made once; generated
 * into a temporary folder and moved in place, so that an interrupted generation never leaves a half
 * model behind.
 */
final class DemoModel {
  static final GeneratorOptions OPTIONS =
      new GeneratorOptions(4, 16, 512, 1024, 2, true, false, 1.0, 20240601L);

  private DemoModel() {}

  static Path ensure(Path dir, PrintWriter err) throws IOException {
    return ensure(dir, OPTIONS, "the demo model", err);
  }

  /**
   * A generated model of {@code options} in {@code dir}, made there once ({@code what} names it in
   * the notice).
   */
  static Path ensure(Path dir, GeneratorOptions options, String what, PrintWriter err)
      throws IOException {
    if (Files.isRegularFile(dir.resolve("config.json"))
        && Files.isRegularFile(dir.resolve("model.safetensors"))) {
      return dir;
    }
    err.printf(
        "generating %s in %s (once): %d layers x %d experts, hidden %d, ffn %d, top-%d, skew %.1f ...%n",
        what,
        dir,
        options.layers(),
        options.experts(),
        options.hidden(),
        options.ffn(),
        options.topK(),
        options.skew());
    Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
    deleteTree(tmp);
    SyntheticModelGenerator.generate(tmp, options);
    deleteTree(dir);
    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    return dir;
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (var files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
