package io.arrakis.expert.gpucheck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.model.kernel.backend.ExpertWeights;
import io.arrakis.model.kernel.backend.WeightTensor;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A checkpoint directory read without ND4J: config.json as JSON, tensors from safetensors files
 * widened to float (F32, BF16, F16) or read as longs (I64). Only what the GPU check needs.
 */
final class Checkpoint implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  final Path dir;
  final JsonNode config;
  private final List<SafetensorsFile> files = new ArrayList<>();

  Checkpoint(Path dir, String... safetensors) throws IOException {
    this.dir = dir;
    this.config = JSON.readTree(dir.resolve("config.json").toFile());
    for (String name : safetensors) {
      files.add(SafetensorsFile.open(dir.resolve(name)));
    }
  }

  static SafetensorsFile open(Path file) throws IOException {
    return SafetensorsFile.open(file);
  }

  int intConfig(String... names) {
    for (String n : names) {
      if (config.hasNonNull(n)) {
        return config.get(n).asInt();
      }
    }
    throw new IllegalArgumentException(
        dir + "/config.json has none of " + String.join(", ", names));
  }

  boolean has(String tensor) {
    return files.stream().anyMatch(f -> f.contains(tensor));
  }

  private SafetensorsFile fileOf(String tensor) {
    return files.stream()
        .filter(f -> f.contains(tensor))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException(dir + ": no tensor '" + tensor + "'"));
  }

  long[] shape(String tensor) throws IOException {
    return fileOf(tensor).info(tensor).shape();
  }

  WeightTensor weight(String tensor) throws IOException {
    SafetensorsFile f = fileOf(tensor);
    TensorInfo info = f.info(tensor);
    long rows = info.shape()[0];
    long cols = info.shape().length > 1 ? info.shape()[1] : 1;
    return new WeightTensor(info.dtype(), rows, cols, f.bytes(tensor));
  }

  float[] floats(String tensor) throws IOException {
    WeightTensor w = weight(tensor);
    float[] out = new float[Math.toIntExact(w.elements())];
    for (int i = 0; i < out.length; i++) {
      out[i] = w.get(i);
    }
    return out;
  }

  long[] longs(String tensor) throws IOException {
    SafetensorsFile f = fileOf(tensor);
    ByteBuffer b = f.bytes(tensor).order(ByteOrder.LITTLE_ENDIAN);
    long[] out = new long[b.remaining() / 8];
    b.asLongBuffer().get(out);
    return out;
  }

  ExpertWeights expert(String gate, String up, String down) throws IOException {
    WeightTensor g = weight(gate);
    return new ExpertWeights(
        Math.toIntExact(g.cols()), Math.toIntExact(g.rows()), g, weight(up), weight(down));
  }

  static boolean exists(Path dir) {
    return Files.isRegularFile(dir.resolve("config.json"));
  }

  @Override
  public void close() throws IOException {
    for (SafetensorsFile f : files) {
      f.close();
    }
  }
}
