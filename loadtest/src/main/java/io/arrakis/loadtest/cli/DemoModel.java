package io.arrakis.loadtest.cli;

import io.arrakis.engine.synthetic.WholeModelGenerator;
import io.arrakis.model.config.Family;
import io.arrakis.model.synthetic.GeneratorOptions;
import io.arrakis.model.synthetic.SyntheticModelGenerator;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;

/**
 * The demo's model: a whole Qwen3-MoE model with random weights (4 layers of 16 experts, top-2,
 * hidden 256, expert FFN 512, the reference models' 512-token tokenizer and ChatML template, fixed
 * seed), small enough to serve briskly on two cores; and the layer models of the benchmarks and
 * calibration (MoE layers only, Zipf-skewed gates). Made once; generated into a temporary folder
 * and moved in place, so that an interrupted generation never leaves a half model behind.
 */
final class DemoModel {
  static final GeneratorOptions OPTIONS =
      new GeneratorOptions(4, 16, 512, 1024, 2, true, false, 1.0, 20240601L);

  private DemoModel() {}

  static final WholeModelGenerator.Shape WHOLE =
      WholeModelGenerator.Shape.of(Family.QWEN3_MOE)
          .layers(4)
          .hidden(256)
          .attention(4, 2, 64)
          .experts(16, 2, 512)
          .ffn(1024, 0)
          .bf16(true)
          .seed(20240601L);

  /** The layer model of {@code arrakis compare}, in {@code dir}, made there once. */
  static Path ensure(Path dir, PrintWriter err) throws IOException {
    return ensure(dir, OPTIONS, "the demo layer model", err);
  }

  /** The demo's whole model in {@code dir}, made there once. */
  static Path ensureWhole(Path dir, PrintWriter err) throws IOException {
    if (Files.isRegularFile(dir.resolve("config.json"))
        && Files.isRegularFile(dir.resolve("model.safetensors"))
        && Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      return dir;
    }
    err.printf(
        "generating the demo model in %s (once): %s, %d layers x %d experts (top-%d), hidden %d, "
            + "random weights ...%n",
        dir,
        WHOLE.family().modelType(),
        WHOLE.layers(),
        WHOLE.experts(),
        WHOLE.topK(),
        WHOLE.hidden());
    Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
    deleteTree(tmp);
    WholeModelGenerator.generate(tmp, WHOLE);
    deleteTree(dir);
    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
    return dir;
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
