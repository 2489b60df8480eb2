package io.arrakis.model.moe;

import com.fasterxml.jackson.databind.JsonNode;
import io.arrakis.model.checkpoint.Checkpoint;
import io.arrakis.model.checkpoint.WeightNames;
import io.arrakis.model.checkpoint.WeightNames.Proj;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.Family;
import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.config.ModelConfigException;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.GateRule;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.backend.ExpertWeights;
import io.arrakis.model.kernel.backend.WeightTensor;
import io.arrakis.model.safetensors.StDType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The MoE layers of a model directory of any supported family: config.json plus its safetensors
 * weights (one file, shards with an index, or Arrakis' layer-only synthetic format). Opening reads
 * headers only; gates, routed experts and shared experts are loaded (memory-mapped, widened to f32)
 * when asked for, so an expert node reads only its experts and a router only gates.
 */
public final class MoeModel implements AutoCloseable {
  private final Path dir;
  private final ModelConfig config;
  private final Family family;
  private final ArchConfig.Moe moe;
  private final Checkpoint checkpoint;
  private final WeightNames names;
  private final List<Integer> moeLayers;

  private MoeModel(Path dir, JsonNode json, Checkpoint checkpoint) {
    this.dir = dir;
    this.config = ModelConfig.fromJson(json);
    this.family = ModelConfig.family(json);
    this.moe = ArchConfig.moeSpec(json);
    this.checkpoint = checkpoint;
    this.names = WeightNames.of(family);
    List<Integer> layers = new ArrayList<>();
    for (int l = 0; l < config.numLayers(); l++) {
      if (checkpoint.has(names.gate(l))) {
        layers.add(l);
      }
    }
    this.moeLayers = List.copyOf(layers);
  }

  /** Opens a model directory and checks every MoE tensor's shape against config.json. */
  public static MoeModel open(Path dir) throws IOException {
    Checkpoint checkpoint = Checkpoint.open(dir);
    try {
      JsonNode json = ArchConfig.readJson(dir);
      MoeModel model;
      try {
        model = new MoeModel(dir, json, checkpoint);
      } catch (ModelConfigException e) {
        throw new ModelConfigException(dir.resolve("config.json") + ": " + e.getMessage());
      }
      model.checkShapes();
      return model;
    } catch (IOException | RuntimeException e) {
      checkpoint.close();
      throw e;
    }
  }

  private void checkShapes() throws IOException {
    if (moeLayers.isEmpty()) {
      throw new ModelConfigException(
          dir + ": no MoE layer found (no tensor named " + names.gate(0) + " or alike)");
    }
    long d = config.hiddenSize();
    long ff = config.intermediateSize();
    for (int l : moeLayers) {
      checkpoint.check(names.gate(l), config.numExperts(), d);
      if (moe.sigmoidScores() && checkpoint.has(names.gateBias(l))) {
        checkpoint.check(names.gateBias(l), config.numExperts());
      }
      for (int e = 0; e < config.numExperts(); e++) {
        checkpoint.check(names.expert(l, e, Proj.GATE), ff, d);
        checkpoint.check(names.expert(l, e, Proj.UP), ff, d);
        checkpoint.check(names.expert(l, e, Proj.DOWN), d, ff);
      }
      if (moe.sharedIntermediateSize() > 0) {
        long sff = moe.sharedIntermediateSize();
        checkpoint.check(names.sharedExpert(l, Proj.GATE), sff, d);
        checkpoint.check(names.sharedExpert(l, Proj.UP), sff, d);
        checkpoint.check(names.sharedExpert(l, Proj.DOWN), d, sff);
        if (moe.sharedExpertGate()) {
          checkpoint.check(names.sharedExpertGate(l), 1, d);
        }
      }
    }
  }

  public Path dir() {
    return dir;
  }

  /** The MoE layer view of config.json. */
  public ModelConfig config() {
    return config;
  }

  public Family family() {
    return family;
  }

  /** The MoE blocks' shape and gate rule, shared experts included. */
  public ArchConfig.Moe moe() {
    return moe;
  }

  /** The weight files (for readers of other tensors, e.g. the engine). */
  public Checkpoint checkpoint() {
    return checkpoint;
  }

  public WeightNames names() {
    return names;
  }

  /** Layers that have an MoE block, ascending. */
  public List<Integer> moeLayers() {
    return moeLayers;
  }

  public boolean isMoeLayer(int layer) {
    return layer >= 0 && layer < config.numLayers() && checkpoint.has(names.gate(layer));
  }

  /** The dtype the expert weights are stored in (that of the first MoE layer's expert 0). */
  public String weightsDtype() throws IOException {
    return checkpoint.dtype(names.expert(moeLayers.get(0), 0, Proj.GATE)).name();
  }

  /** The gate rule of an MoE layer (DeepSeek's holds the layer's selection bias). */
  public GateRule gateRule(int layer) throws IOException {
    requireMoeLayer(layer);
    float[] bias = null;
    if (moe.sigmoidScores() && checkpoint.has(names.gateBias(layer))) {
      bias = checkpoint.floats(names.gateBias(layer), config.numExperts());
    }
    return GateRule.of(moe, bias);
  }

  /** The gate weight [E, d] of an MoE layer, row-major float32. */
  public float[] gateWeight(int layer) throws IOException {
    requireMoeLayer(layer);
    return checkpoint.floats(names.gate(layer), config.numExperts(), config.hiddenSize());
  }

  /** Loads the gate of an MoE layer. */
  public Gate gate(int layer) throws IOException {
    float[] w = gateWeight(layer);
    INDArray weight;
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      weight = Nd4j.create(w, new long[] {config.numExperts(), config.hiddenSize()}, 'c');
    }
    return new Gate(weight, gateRule(layer));
  }

  private void requireExpert(int layer, int expert) {
    requireMoeLayer(layer);
    if (expert < 0 || expert >= config.numExperts()) {
      throw new ModelConfigException(
          "expert " + expert + " out of range 0.." + (config.numExperts() - 1));
    }
  }

  /** Loads one routed expert, laid out for GEMM. */
  public ExpertKernel expert(int layer, int expert) throws IOException {
    requireExpert(layer, expert);
    int d = config.hiddenSize();
    int ff = config.intermediateSize();
    return ExpertKernel.fromHf(
        checkpoint.floats(names.expert(layer, expert, Proj.GATE), ff, d),
        checkpoint.floats(names.expert(layer, expert, Proj.UP), ff, d),
        checkpoint.floats(names.expert(layer, expert, Proj.DOWN), d, ff),
        ff,
        d);
  }

  /**
   * The shared expert of an MoE layer with its gate vector (Qwen2's {@code shared_expert_gate},
   * else empty), when the family has one.
   */
  public Optional<SharedExpert> sharedExpert(int layer) throws IOException {
    requireMoeLayer(layer);
    int sff = moe.sharedIntermediateSize();
    if (sff == 0) {
      return Optional.empty();
    }
    int d = config.hiddenSize();
    ExpertKernel kernel =
        ExpertKernel.fromHf(
            checkpoint.floats(names.sharedExpert(layer, Proj.GATE), sff, d),
            checkpoint.floats(names.sharedExpert(layer, Proj.UP), sff, d),
            checkpoint.floats(names.sharedExpert(layer, Proj.DOWN), d, sff),
            sff,
            d);
    Optional<float[]> gate =
        moe.sharedExpertGate()
            ? Optional.of(checkpoint.floats(names.sharedExpertGate(layer), 1, d))
            : Optional.empty();
    return Optional.of(new SharedExpert(kernel, gate));
  }

  /**
   * A layer's shared expert: its output is added to the routed experts', scaled per token by {@code
   * sigmoid(gate · x)} when it has a gate.
   */
  public record SharedExpert(ExpertKernel kernel, Optional<float[]> gate) {}

  /**
   * One routed expert's weights as stored (memory-mapped, not widened), for backends that lay them
   * out themselves (the CUDA backend keeps bf16); FP8 weights come dequantised to F32.
   */
  public ExpertWeights expertWeights(int layer, int expert) throws IOException {
    requireExpert(layer, expert);
    int d = config.hiddenSize();
    int ff = config.intermediateSize();
    return new ExpertWeights(
        d,
        ff,
        raw(names.expert(layer, expert, Proj.GATE), ff, d),
        raw(names.expert(layer, expert, Proj.UP), ff, d),
        raw(names.expert(layer, expert, Proj.DOWN), d, ff));
  }

  private WeightTensor raw(String name, int rows, int cols) throws IOException {
    checkpoint.check(name, rows, cols);
    if (checkpoint.dtype(name) == StDType.F8_E4M3) {
      float[] widened = checkpoint.floats(name, rows, cols);
      ByteBuffer bytes =
          ByteBuffer.allocate(widened.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
      bytes.asFloatBuffer().put(widened);
      return new WeightTensor(StDType.F32, rows, cols, bytes);
    }
    return new WeightTensor(checkpoint.dtype(name), rows, cols, checkpoint.bytes(name));
  }

  /** The mean of synthetic inputs, where the generator recorded one. */
  public Optional<INDArray> inputBias() throws IOException {
    if (!checkpoint.has(TensorNames.INPUT_BIAS)) {
      return Optional.empty();
    }
    float[] b = checkpoint.floats(TensorNames.INPUT_BIAS, config.hiddenSize());
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return Optional.of(Nd4j.create(b, new long[] {b.length}, 'c'));
    }
  }

  private void requireMoeLayer(int layer) {
    if (!isMoeLayer(layer)) {
      throw new ModelConfigException(
          "layer " + layer + " is not an MoE layer of this model (MoE layers: " + moeLayers + ")");
    }
  }

  @Override
  public void close() throws IOException {
    checkpoint.close();
  }
}
