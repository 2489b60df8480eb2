package io.arrakis.engine.cli;

import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.generate.EosIds;
import io.arrakis.engine.generate.Generation;
import io.arrakis.engine.generate.Generator;
import io.arrakis.engine.sampling.SamplingParams;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code model run}: generate from a prompt, streaming to the terminal, then prefill and decode speed. */
@Command(name = "run", mixinStandardHelpOptions = true,
    description = "Generate from a prompt in process, streaming tokens to the terminal, then prefill and decode tokens/s.")
final class RunCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "Model directory.")
  Path model;

  @ArgGroup(exclusive = true, multiplicity = "1")
  PromptForm prompt;

  static final class PromptForm {
    @Option(names = "--ids", description = "Prompt token ids, e.g. 1,85,91.")
    String ids;

    @Option(names = "--prompt", description = "Prompt text (needs the tokenizer).")
    String text;

    @Option(names = "--chat", description = "A user message, rendered with the chat template (needs the tokenizer).")
    String chat;
  }

  @Option(names = "--max-tokens", defaultValue = "64", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0", description = "0 for greedy (default: ${DEFAULT-VALUE}).")
  float temperature;

  @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
  float topP;

  @Option(names = "--top-k", defaultValue = "0", description = "Sample from the k most likely tokens, 0: all (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(names = "--seed", description = "Sampling seed (same seed, same tokens).")
  Long seed;

  @Option(names = "--ignore-eos", description = "Do not stop at the end-of-sequence token.")
  boolean ignoreEos;

  @Option(names = "--prefill-chunk", defaultValue = "0", description = "Prefill at most this many tokens a step, 0: all (default: ${DEFAULT-VALUE}).")
  int prefillChunk;

  @Option(names = "--kv-cache-mb", defaultValue = "512", description = "KV cache memory (default: ${DEFAULT-VALUE}).")
  long kvCacheMb;

  @Override
  public Integer call() throws Exception {
    if (prompt.ids == null) {
      throw new IllegalArgumentException("--prompt and --chat need the tokenizer, which this build does not have yet; "
          + "give --ids");
    }
    int[] ids = Prompts.parseIds(prompt.ids);
    PrintStream out = System.out;
    try (Engine engine = Engine.load(model, EngineOptions.DEFAULT.withKvCacheBytes(kvCacheMb << 20))) {
      Set<Integer> eos = EosIds.of(model);
      SamplingParams params = new SamplingParams(maxTokens, temperature, topK, topP,
          seed == null ? OptionalLong.empty() : OptionalLong.of(seed), Set.of(), eos, ignoreEos);
      Generation g = new Generator(engine, prefillChunk).generate(ids, params, t -> {
        out.print(t + " ");
        out.flush();
        return true;
      });
      out.println();
      System.err.printf("prefill %d tokens: %.1f tokens/s; decode %d tokens: %.1f tokens/s; finish: %s%n",
          g.promptTokens(), g.prefillTokensPerSecond(), g.tokens().length, g.decodeTokensPerSecond(),
          g.finishReason().wire());
    }
    return 0;
  }
}
