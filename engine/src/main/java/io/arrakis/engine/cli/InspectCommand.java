package io.arrakis.engine.cli;

import io.arrakis.engine.synthetic.ModelTensors;
import io.arrakis.model.checkpoint.Checkpoint;
import io.arrakis.model.config.ArchConfig;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code model inspect DIR}: what a checkpoint holds. */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description =
        "Show a model's family, layers, experts, parameter counts (total, active per token, routed experts' "
            + "share), bytes per expert and dtype.")
final class InspectCommand implements Callable<Integer> {
  @Parameters(
      index = "0",
      paramLabel = "DIR",
      description = "Model directory (Hugging Face Hub layout).")
  Path dir;

  @Override
  public Integer call() throws Exception {
    ArchConfig c = ArchConfig.load(dir);
    Map<ModelTensors.Role, Long> byRole = new EnumMap<>(ModelTensors.Role.class);
    Map<String, Long> dtypes = new TreeMap<>();
    long expertParams = 0;
    long expertBytes = 0;
    try (Checkpoint ck = Checkpoint.open(dir)) {
      for (ModelTensors.Tensor t : ModelTensors.of(c)) {
        ck.check(t.name(), t.shape());
        byRole.merge(t.role(), t.elements(), Long::sum);
        dtypes.merge(ck.dtype(t.name()).name(), t.elements(), Long::sum);
        if (t.role() == ModelTensors.Role.ROUTED_EXPERT
            && t.expert() == 0
            && t.layer() == firstMoe(c)) {
          expertParams += t.elements();
          expertBytes += t.elements() * ck.dtype(t.name()).size();
        }
      }
    }
    long total = byRole.values().stream().mapToLong(Long::longValue).sum();
    long routed = byRole.getOrDefault(ModelTensors.Role.ROUTED_EXPERT, 0L);
    long active = total - routed + routed / c.moe().experts() * c.moe().topK();
    int moeLayers = (int) c.moeLayers().stream().filter(b -> b).count();
    System.out.printf("model        %s (%s)%n", dir, c.family());
    System.out.printf(
        "layers       %d: %d MoE, %d dense; hidden %d, vocab %d%n",
        c.numLayers(), moeLayers, c.numLayers() - moeLayers, c.hiddenSize(), c.vocabSize());
    ArchConfig.Attention a = c.attention();
    System.out.printf(
        "attention    %s%n",
        a.mla() == null
            ? String.format(
                "GQA, %d heads, %d key/value heads, head dim %d%s%s%s",
                a.heads(),
                a.kvHeads(),
                a.headDim(),
                a.qkvBias() ? ", q/k/v biases" : "",
                a.qkNorm() ? ", q/k norm" : "",
                slidingWindows(a))
            : String.format(
                "MLA, %d heads, kv_lora_rank %d, q_lora_rank %d, rope dim %d",
                a.heads(), a.mla().kvLoraRank(), a.mla().qLoraRank(), a.mla().qkRopeHeadDim()));
    System.out.printf(
        "rope         %s, theta %.0f%s%n",
        c.rope().type(),
        c.rope().theta(),
        c.rope().type().equals("default") ? "" : ", factor " + c.rope().factor());
    ArchConfig.Moe m = c.moe();
    System.out.printf(
        "experts      %d per MoE layer, top-%d (%s), expert ffn %d%s%n",
        m.experts(),
        m.topK(),
        m.sigmoidScores()
            ? String.format(
                "sigmoid, %d groups top-%d, scaling %.2f",
                m.nGroup(), m.topkGroup(), m.routedScalingFactor())
            : m.normTopkProb() ? "softmax, renormalised" : "softmax",
        m.expertIntermediateSize(),
        m.sharedIntermediateSize() > 0
            ? ", shared expert ffn "
                + m.sharedIntermediateSize()
                + (m.sharedExpertGate() ? " (gated)" : "")
            : "");
    System.out.printf(
        "parameters   %s total, %s active per token, routed experts %.1f%% of the total%n",
        human(total), human(active), 100.0 * routed / total);
    System.out.printf(
        "per expert   %s parameters, %s as stored, %s as float32%n",
        human(expertParams), bytes(expertBytes), bytes(expertParams * 4));
    System.out.printf("dtype        %s (config.json: %s)%n", dtypes.keySet(), c.dtype());
    long kvRow =
        a.mla() == null
            ? 2L * a.kvHeads() * a.headDim()
            : a.mla().kvLoraRank() + a.mla().qkRopeHeadDim();
    System.out.printf(
        "KV cache     %s per token (float32, all layers)%n", bytes(kvRow * 4 * c.numLayers()));
    return 0;
  }

  /** ", sliding window W in N of M layers", or nothing. */
  private static String slidingWindows(ArchConfig.Attention a) {
    List<Integer> sliding = a.windows().stream().filter(w -> w > 0).toList();
    if (sliding.isEmpty()) {
      return "";
    }
    return sliding.size() == a.windows().size()
        ? ", sliding window " + sliding.get(0)
        : ", sliding window "
            + sliding.get(0)
            + " in "
            + sliding.size()
            + " of "
            + a.windows().size()
            + " layers";
  }

  private static int firstMoe(ArchConfig c) {
    return c.moeLayers().indexOf(true);
  }

  static String human(long n) {
    if (n >= 1_000_000_000L) {
      return String.format("%.2fB", n / 1e9);
    }
    if (n >= 1_000_000L) {
      return String.format("%.2fM", n / 1e6);
    }
    if (n >= 1_000L) {
      return String.format("%.1fK", n / 1e3);
    }
    return Long.toString(n);
  }

  static String bytes(long b) {
    if (b >= 1L << 30) {
      return String.format("%.2f GiB", b / (double) (1L << 30));
    }
    if (b >= 1L << 20) {
      return String.format("%.2f MiB", b / (double) (1L << 20));
    }
    return String.format("%.1f KiB", b / 1024.0);
  }
}
