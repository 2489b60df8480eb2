package io.arrakis.engine.cli;

import io.arrakis.model.cli.CliErrors;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.safetensors.TensorInfo;
import io.arrakis.model.synthetic.GeneratorOptions;
import io.arrakis.model.synthetic.SyntheticModelGenerator;
import io.arrakis.model.tensor.NdArrays;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.ndarray.INDArray;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis model …}: make and run models in process. */
@Command(
    name = "arrakis model",
    mixinStandardHelpOptions = true,
    description = "Generate synthetic MoE models and run the in-process reference.",
    subcommands = {ModelCli.Generate.class, ModelCli.Reference.class})
public final class ModelCli implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "missing subcommand: generate or reference");
  }

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line; errors in the user's input print one line, not a stack trace. */
  public static int execute(String... args) {
    CommandLine cli = new CommandLine(new ModelCli());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("error: " + CliErrors.oneLine(e));
          return 1;
        });
    return cli.execute(args);
  }

  @Command(
      name = "generate",
      mixinStandardHelpOptions = true,
      description =
          "Write a random Mixtral-style model (config.json + model.safetensors) with skewed expert popularity.")
  public static class Generate implements Callable<Integer> {
    @Option(names = "--out", required = true, description = "Output directory (created if absent).")
    protected Path out;

    @Option(
        names = "--layers",
        defaultValue = "2",
        description = "MoE layers (default: ${DEFAULT-VALUE}).")
    protected int layers;

    @Option(
        names = "--experts",
        defaultValue = "8",
        description = "Experts per layer (default: ${DEFAULT-VALUE}).")
    protected int experts;

    @Option(
        names = "--hidden",
        defaultValue = "64",
        description = "Hidden size d (default: ${DEFAULT-VALUE}).")
    protected int hidden;

    @Option(
        names = "--ffn",
        defaultValue = "128",
        description = "Expert FFN size (default: ${DEFAULT-VALUE}).")
    protected int ffn;

    @Option(
        names = "--top-k",
        defaultValue = "2",
        description = "Experts per token (default: ${DEFAULT-VALUE}).")
    protected int topK;

    @Option(
        names = "--no-renorm",
        description = "Do not renormalise the top-k weights (norm_topk_prob: false).")
    protected boolean noRenorm;

    @Option(
        names = "--dtype",
        defaultValue = "f32",
        description = "Weight dtype: f32 or bf16 (default: ${DEFAULT-VALUE}).")
    protected String dtype;

    @Option(
        names = "--skew",
        defaultValue = "1.0",
        description =
            "Zipf exponent of expert popularity, 0 = uniform (default: ${DEFAULT-VALUE}).")
    protected double skew;

    @Option(
        names = "--seed",
        defaultValue = "42",
        description = "Random seed (default: ${DEFAULT-VALUE}).")
    protected long seed;

    @Override
    public Integer call() throws Exception {
      if (!dtype.equals("f32") && !dtype.equals("bf16")) {
        throw new IllegalArgumentException("--dtype must be f32 or bf16, got " + dtype);
      }
      GeneratorOptions o =
          new GeneratorOptions(
              layers, experts, hidden, ffn, topK, !noRenorm, dtype.equals("bf16"), skew, seed);
      SyntheticModelGenerator.generate(out, o);
      System.out.printf(
          "wrote %s: %d layers x %d experts, hidden %d, ffn %d, top-%d, %s, skew %.2f%n",
          out, layers, experts, hidden, ffn, topK, dtype, skew);
      return 0;
    }
  }

  @Command(
      name = "reference",
      mixinStandardHelpOptions = true,
      description =
          "Run one MoE layer in process: IN holds hidden_states F32 [T, d]; OUT gets output F32 [T, d], "
              + "topk_ids I32 [T, k] and topk_weights F32 [T, k].")
  public static final class Reference implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Model directory.")
    Path model;

    @Option(names = "--layer", required = true, description = "MoE layer index.")
    int layer;

    @Option(
        names = "--input",
        required = true,
        description = "safetensors file with hidden_states.")
    Path input;

    @Option(names = "--output", required = true, description = "safetensors file to write.")
    Path output;

    @Override
    public Integer call() throws Exception {
      INDArray x;
      try (SafetensorsFile in = SafetensorsFile.open(input)) {
        TensorInfo info = in.info("hidden_states");
        if (info.shape().length != 2) {
          throw new IllegalArgumentException(
              input + ": hidden_states must be [T, d], got " + info.shapeString());
        }
        x = NdArrays.readFloat(in, "hidden_states");
      }
      ReferenceMoe.Result result;
      try (MoeModel m = MoeModel.open(model)) {
        if (x.size(1) != m.config().hiddenSize()) {
          throw new IllegalArgumentException(
              input
                  + ": hidden_states has width "
                  + x.size(1)
                  + " but the model's hidden size is "
                  + m.config().hiddenSize());
        }
        result = ReferenceMoe.load(m, layer).forward(x);
      }
      int t = result.routing().tokens();
      int k = result.routing().k();
      Map<SafetensorsWriter.Entry, ByteBuffer> tensors = new LinkedHashMap<>();
      tensors.put(
          new SafetensorsWriter.Entry("output", StDType.F32, result.output().shape()),
          ByteBuffer.wrap(NdArrays.toBytes(result.output())));
      ByteBuffer ids = ByteBuffer.allocate(t * k * 4).order(ByteOrder.LITTLE_ENDIAN);
      ids.asIntBuffer().put(result.routing().ids());
      tensors.put(new SafetensorsWriter.Entry("topk_ids", StDType.I32, new long[] {t, k}), ids);
      ByteBuffer weights = ByteBuffer.allocate(t * k * 4).order(ByteOrder.LITTLE_ENDIAN);
      weights.asFloatBuffer().put(result.routing().weights());
      tensors.put(
          new SafetensorsWriter.Entry("topk_weights", StDType.F32, new long[] {t, k}), weights);
      SafetensorsWriter.write(output, tensors, Map.of("format", "pt"));
      System.out.printf(
          "wrote %s: output [%d, %d], layer %d, top-%d%n", output, t, x.size(1), layer, k);
      return 0;
    }
  }
}
