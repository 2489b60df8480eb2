package io.arrakis.engine.cli;

import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.model.tokenizer.ModelTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The model a {@code model} command runs in process, and its KV cache. */
final class EngineFlags {
  @Option(names = "--model", required = true, description = "Model directory.")
  Path model;

  @Option(
      names = "--kv-cache-mb",
      defaultValue = "512",
      description = "KV cache memory (default: ${DEFAULT-VALUE}).")
  long kvCacheMb;

  /** The model's tokenizer, or null where it has no tokenizer.json. */
  ModelTokenizer tokenizer() {
    return Prompts.tokenizerOf(model);
  }

  Engine load() throws IOException {
    return Engine.load(model, EngineOptions.DEFAULT.withKvCacheBytes(kvCacheMb << 20));
  }
}
