package io.arrakis.engine.cli;

import io.arrakis.engine.synthetic.WholeModelGenerator;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.Family;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code model generate}: the layer-only synthetic model of the layer API, or with --arch a whole
 * model.
 */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = {
      "Without --arch: a random Mixtral-style MoE-layer model (config.json + model.safetensors) with "
          + "skewed expert popularity, for the layer API.",
      "With --arch: a random whole model of that family with a tokenizer, for demos, tests and benchmarks "
          + "(--ffn is the routed experts' width)."
    })
final class GenerateCommand extends ModelCli.Generate {
  @Option(
      names = "--arch",
      description = "Whole-model family: mixtral, qwen2_moe, qwen3_moe or deepseek_v3.")
  String arch;

  @Option(
      names = "--heads",
      defaultValue = "4",
      description = "Attention heads (--arch; default: ${DEFAULT-VALUE}).")
  int heads;

  @Option(
      names = "--kv-heads",
      defaultValue = "0",
      description = "Key/value heads (--arch; default: a quarter of the heads).")
  int kvHeads;

  @Option(
      names = "--head-dim",
      defaultValue = "0",
      description = "Head width (--arch; default: hidden / heads).")
  int headDim;

  @Option(
      names = "--dense-ffn",
      defaultValue = "0",
      description = "Dense layers' MLP width (--arch; default: 4 x ffn).")
  int denseFfn;

  @Option(
      names = "--shared-ffn",
      defaultValue = "0",
      description =
          "Shared expert width (--arch qwen2_moe/deepseek_v3; default: 4 x ffn, resp. ffn).")
  int sharedFfn;

  @Option(
      names = "--vocab",
      defaultValue = "512",
      description = "Vocabulary size, at least the tokenizer's 512 (--arch).")
  int vocab;

  @Override
  public Integer call() throws Exception {
    if (arch == null) {
      return super.call();
    }
    if (!dtype.equals("f32") && !dtype.equals("bf16")) {
      throw new IllegalArgumentException("--dtype must be f32 or bf16, got " + dtype);
    }
    Family family = Family.of(arch);
    int dense = denseFfn > 0 ? denseFfn : 4 * ffn;
    int shared = sharedFfn > 0 ? sharedFfn : family == Family.DEEPSEEK_V3 ? ffn : 4 * ffn;
    WholeModelGenerator.Shape shape =
        WholeModelGenerator.Shape.of(family)
            .layers(layers)
            .hidden(hidden)
            .attention(heads, kvHeads, headDim)
            .experts(experts, topK, ffn)
            .ffn(dense, shared)
            .vocab(vocab)
            .bf16(dtype.equals("bf16"))
            .seed(seed);
    ArchConfig c = WholeModelGenerator.generate(out, shape);
    System.out.printf(
        "wrote %s: %s, %d layers, hidden %d, %d heads, %d experts top-%d, expert ffn %d, vocab %d, %s%n",
        out,
        family,
        c.numLayers(),
        c.hiddenSize(),
        c.attention().heads(),
        c.moe().experts(),
        c.moe().topK(),
        c.moe().expertIntermediateSize(),
        c.vocabSize(),
        dtype);
    return 0;
  }
}
