package io.arrakis.loadtest.load;

import io.arrakis.model.moe.TensorNames;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.StDType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Reads the input bias the synthetic generator recorded in a model directory, straight from the
 * safetensors bytes: a load client needs no ND4J.
 */
public final class InputBias {
  private InputBias() {}

  /** The bias, or null when the model has none (a real or fixture model). */
  public static float[] read(Path modelDir) throws IOException {
    if (!Files.isDirectory(modelDir)) {
      throw new IllegalArgumentException("model directory " + modelDir + " does not exist");
    }
    List<Path> files;
    try (Stream<Path> s = Files.list(modelDir)) {
      files =
          s.filter(
                  p ->
                      p.getFileName().toString().startsWith("model")
                          && p.getFileName().toString().endsWith(".safetensors"))
              .sorted()
              .toList();
    }
    for (Path p : files) {
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        if (f.contains(TensorNames.INPUT_BIAS)) {
          if (f.info(TensorNames.INPUT_BIAS).dtype() != StDType.F32) {
            throw new IOException(p + ": " + TensorNames.INPUT_BIAS + " is not F32");
          }
          ByteBuffer b = f.bytes(TensorNames.INPUT_BIAS).order(ByteOrder.LITTLE_ENDIAN);
          float[] out = new float[b.remaining() / 4];
          b.asFloatBuffer().get(out);
          return out;
        }
      }
    }
    return null;
  }
}
