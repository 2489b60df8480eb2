package io.arrakis.model.moe;

import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.config.ModelConfigException;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.backend.ExpertWeights;
import io.arrakis.model.kernel.backend.WeightTensor;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.TensorInfo;
import io.arrakis.model.tensor.NdArrays;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A model directory: config.json plus the model*.safetensors files holding Mixtral-named tensors. Opening
 * reads only headers; gates and experts are loaded (memory-mapped, widened to f32) when asked for.
 */
public final class MoeModel implements AutoCloseable {
  private final Path dir;
  private final ModelConfig config;
  private final List<SafetensorsFile> files;
  private final Map<String, SafetensorsFile> byTensor;
  private final List<Integer> moeLayers;

  private MoeModel(Path dir, ModelConfig config, List<SafetensorsFile> files, Map<String, SafetensorsFile> byTensor) {
    this.dir = dir;
    this.config = config;
    this.files = files;
    this.byTensor = byTensor;
    List<Integer> layers = new ArrayList<>();
    for (int l = 0; l < config.numLayers(); l++) {
      if (byTensor.containsKey(TensorNames.gate(l))) {
        layers.add(l);
      }
    }
    this.moeLayers = List.copyOf(layers);
  }

  /** Opens a model directory and checks every MoE tensor's shape against config.json. */
  public static MoeModel open(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new ModelConfigException("model directory " + dir + " does not exist");
    }
    ModelConfig config = ModelConfig.load(dir);
    List<Path> paths;
    try (Stream<Path> s = Files.list(dir)) {
      paths = s.filter(MoeModel::isWeightsFile).sorted().toList();
    }
    if (paths.isEmpty()) {
      throw new ModelConfigException("no model*.safetensors files in model directory " + dir);
    }
    List<SafetensorsFile> files = new ArrayList<>();
    Map<String, SafetensorsFile> byTensor = new HashMap<>();
    try {
      for (Path p : paths) {
        SafetensorsFile f = SafetensorsFile.open(p);
        files.add(f);
        for (String name : f.tensors().keySet()) {
          SafetensorsFile prev = byTensor.put(name, f);
          if (prev != null) {
            throw new ModelConfigException("tensor '" + name + "' appears in both " + prev.path() + " and " + p);
          }
        }
      }
      MoeModel model = new MoeModel(dir, config, List.copyOf(files), byTensor);
      model.checkShapes();
      return model;
    } catch (IOException | RuntimeException e) {
      for (SafetensorsFile f : files) {
        f.close();
      }
      throw e;
    }
  }

  /** Hugging Face's names: model.safetensors or shards such as model-00001-of-00002.safetensors. */
  private static boolean isWeightsFile(Path p) {
    String name = p.getFileName().toString();
    return name.startsWith("model") && name.endsWith(".safetensors");
  }

  private void checkShapes() throws IOException {
    if (moeLayers.isEmpty()) {
      throw new ModelConfigException(dir + ": no MoE layer found (no tensor named " + TensorNames.gate(0) + " or alike)");
    }
    long d = config.hiddenSize();
    long ff = config.intermediateSize();
    for (int l : moeLayers) {
      checkShape(TensorNames.gate(l), config.numExperts(), d);
      for (int e = 0; e < config.numExperts(); e++) {
        checkShape(TensorNames.expert(l, e, "w1"), ff, d);
        checkShape(TensorNames.expert(l, e, "w3"), ff, d);
        checkShape(TensorNames.expert(l, e, "w2"), d, ff);
      }
    }
  }

  private void checkShape(String name, long... expected) throws IOException {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      throw new ModelConfigException(dir + ": missing tensor '" + name + "'");
    }
    TensorInfo info = f.info(name);
    if (!Arrays.equals(info.shape(), expected)) {
      throw new ModelConfigException(f.path() + ": tensor '" + name + "' has shape " + info.shapeString()
          + ", config.json implies " + Arrays.toString(expected));
    }
  }

  public Path dir() {
    return dir;
  }

  public ModelConfig config() {
    return config;
  }

  /** Layers that have an MoE block, ascending. */
  public List<Integer> moeLayers() {
    return moeLayers;
  }

  public boolean isMoeLayer(int layer) {
    return layer >= 0 && layer < config.numLayers() && byTensor.containsKey(TensorNames.gate(layer));
  }

  /** The dtype the expert weights are stored in (that of layer's first expert w1). */
  public String weightsDtype() throws IOException {
    String name = TensorNames.expert(moeLayers.get(0), 0, "w1");
    return byTensor.get(name).info(name).dtype().name();
  }

  /** Loads the gate of an MoE layer. */
  public Gate gate(int layer) throws IOException {
    requireMoeLayer(layer);
    return new Gate(load(TensorNames.gate(layer)), config.topK(), config.normTopkProb());
  }

  /** Loads one expert, laid out for GEMM. */
  public ExpertKernel expert(int layer, int expert) throws IOException {
    requireMoeLayer(layer);
    if (expert < 0 || expert >= config.numExperts()) {
      throw new ModelConfigException("expert " + expert + " out of range 0.." + (config.numExperts() - 1));
    }
    return ExpertKernel.fromHf(
        load(TensorNames.expert(layer, expert, "w1")),
        load(TensorNames.expert(layer, expert, "w3")),
        load(TensorNames.expert(layer, expert, "w2")));
  }

  /**
   * One expert's weights as stored (memory-mapped, not widened): for backends that lay them out
   * themselves (the CUDA backend keeps bf16).
   */
  public ExpertWeights expertWeights(int layer, int expert) throws IOException {
    requireMoeLayer(layer);
    if (expert < 0 || expert >= config.numExperts()) {
      throw new ModelConfigException("expert " + expert + " out of range 0.." + (config.numExperts() - 1));
    }
    return new ExpertWeights(config.hiddenSize(), config.intermediateSize(), raw(TensorNames.expert(layer, expert, "w1")),
        raw(TensorNames.expert(layer, expert, "w3")), raw(TensorNames.expert(layer, expert, "w2")));
  }

  private WeightTensor raw(String name) throws IOException {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      throw new ModelConfigException(dir + ": missing tensor '" + name + "'");
    }
    TensorInfo info = f.info(name);
    return new WeightTensor(info.dtype(), info.shape()[0], info.shape()[1], f.bytes(name));
  }

  /** The mean of synthetic inputs, where the generator recorded one. */
  public Optional<INDArray> inputBias() throws IOException {
    SafetensorsFile f = byTensor.get(TensorNames.INPUT_BIAS);
    return f == null ? Optional.empty() : Optional.of(NdArrays.readFloat(f, TensorNames.INPUT_BIAS));
  }

  private INDArray load(String name) throws IOException {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      throw new ModelConfigException(dir + ": missing tensor '" + name + "'");
    }
    return NdArrays.readFloat(f, name);
  }

  private void requireMoeLayer(int layer) {
    if (!isMoeLayer(layer)) {
      throw new ModelConfigException("layer " + layer + " is not an MoE layer of this model (MoE layers: " + moeLayers + ")");
    }
  }

  @Override
  public void close() throws IOException {
    for (SafetensorsFile f : files) {
      f.close();
    }
  }
}
