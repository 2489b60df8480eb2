package io.arrakis.model.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.model.config.ModelConfigException;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.safetensors.TensorInfo;
import io.arrakis.model.tensor.NdArrays;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The weights of a model directory in the Hugging Face Hub layout: {@code model.safetensors}, or
 * shards listed by {@code model.safetensors.index.json} (else every {@code model*.safetensors}).
 * Opening reads headers only; a tensor's bytes are mapped when asked for and widened to float32
 * (from F32, BF16, F16, or FP8 e4m3 with its {@code weight_scale_inv} 128×128 block scales), so a
 * process touches only the tensors it uses.
 */
public final class Checkpoint implements AutoCloseable {
  public static final String INDEX = "model.safetensors.index.json";
  private static final int FP8_BLOCK = 128;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;
  private final List<SafetensorsFile> files;
  private final Map<String, SafetensorsFile> byTensor;

  private Checkpoint(Path dir, List<SafetensorsFile> files, Map<String, SafetensorsFile> byTensor) {
    this.dir = dir;
    this.files = files;
    this.byTensor = byTensor;
  }

  /** Opens the weight files of {@code dir} (headers only); faults name the file. */
  public static Checkpoint open(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new ModelConfigException("model directory " + dir + " does not exist");
    }
    List<Path> paths = weightFiles(dir);
    List<SafetensorsFile> files = new ArrayList<>();
    Map<String, SafetensorsFile> byTensor = new HashMap<>();
    try {
      for (Path p : paths) {
        SafetensorsFile f = SafetensorsFile.open(p);
        files.add(f);
        for (String name : f.tensors().keySet()) {
          SafetensorsFile prev = byTensor.put(name, f);
          if (prev != null) {
            throw new ModelConfigException(
                "tensor '" + name + "' appears in both " + prev.path() + " and " + p);
          }
        }
      }
      return new Checkpoint(dir, List.copyOf(files), byTensor);
    } catch (IOException | RuntimeException e) {
      for (SafetensorsFile f : files) {
        f.close();
      }
      throw e;
    }
  }

  private static List<Path> weightFiles(Path dir) throws IOException {
    Path index = dir.resolve(INDEX);
    if (Files.exists(index)) {
      JsonNode root;
      try {
        root = JSON.readTree(Files.readAllBytes(index));
      } catch (IOException e) {
        throw new ModelConfigException(index + ": not valid JSON: " + e.getMessage());
      }
      JsonNode map = root == null ? null : root.get("weight_map");
      if (map == null || !map.isObject()) {
        throw new ModelConfigException(index + ": missing 'weight_map' object");
      }
      Set<String> names = new TreeSet<>();
      for (Iterator<JsonNode> it = map.elements(); it.hasNext(); ) {
        JsonNode v = it.next();
        if (!v.isTextual() || v.textValue().contains("/") || v.textValue().contains("\\")) {
          throw new ModelConfigException(
              index + ": weight_map values must be file names in the directory, got " + v);
        }
        names.add(v.textValue());
      }
      List<Path> out = new ArrayList<>();
      for (String n : names) {
        Path p = dir.resolve(n);
        if (!Files.isRegularFile(p)) {
          throw new ModelConfigException(
              index + " names shard " + n + ", which is missing from " + dir);
        }
        out.add(p);
      }
      return out;
    }
    try (Stream<Path> s = Files.list(dir)) {
      List<Path> out =
          s.filter(
                  p -> {
                    String n = p.getFileName().toString();
                    return n.startsWith("model") && n.endsWith(".safetensors");
                  })
              .sorted()
              .toList();
      if (out.isEmpty()) {
        throw new ModelConfigException("no model*.safetensors files in model directory " + dir);
      }
      return out;
    }
  }

  public Path dir() {
    return dir;
  }

  public boolean has(String name) {
    return byTensor.containsKey(name);
  }

  /** Every tensor name. */
  public Set<String> names() {
    return byTensor.keySet();
  }

  /** A tensor's header entry; a missing tensor is refused naming it. */
  public TensorInfo info(String name) throws IOException {
    return file(name).info(name);
  }

  private SafetensorsFile file(String name) {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      throw new ModelConfigException(dir + ": missing tensor '" + name + "'");
    }
    return f;
  }

  /** A tensor's bytes as stored (a memory-mapped view), little-endian. */
  public ByteBuffer bytes(String name) throws IOException {
    return file(name).bytes(name).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Refuses a missing tensor, a shape other than {@code expected}, or a dtype that is not a float.
   */
  public void check(String name, long... expected) throws IOException {
    TensorInfo info = info(name);
    if (!Arrays.equals(info.shape(), expected)) {
      throw new ModelConfigException(
          file(name).path()
              + ": tensor '"
              + name
              + "' has shape "
              + info.shapeString()
              + ", config.json implies "
              + Arrays.toString(expected));
    }
    switch (info.dtype()) {
      case F32, BF16, F16 -> {}
      case F8_E4M3 ->
          check(
              name + "_scale_inv",
              ceilDiv(expected[0], FP8_BLOCK),
              ceilDiv(expected[1], FP8_BLOCK));
      default -> throw unsupportedDtype(name, info);
    }
  }

  private ModelConfigException unsupportedDtype(String name, TensorInfo info) {
    return new ModelConfigException(
        file(name).path()
            + ": tensor '"
            + name
            + "' has dtype "
            + info.dtype()
            + "; weights must be F32, BF16, F16 or F8_E4M3");
  }

  /** The tensor as float32, row-major, after {@link #check}ing its shape. */
  public float[] floats(String name, long... expected) throws IOException {
    check(name, expected);
    long n = info(name).numElements();
    if (n > Integer.MAX_VALUE - 8) {
      throw new ModelConfigException(
          "tensor '" + name + "' has " + n + " elements, too many for a Java array");
    }
    float[] out = new float[(int) n];
    read(name, FloatBuffer.wrap(out));
    return out;
  }

  /**
   * Widens the tensor into {@code dst} (its remaining space must be the tensor's element count);
   * the caller has {@link #check}ed the shape.
   */
  public void read(String name, FloatBuffer dst) throws IOException {
    TensorInfo info = info(name);
    ByteBuffer src = file(name).bytes(name).order(ByteOrder.LITTLE_ENDIAN);
    long n = info.numElements();
    if (dst.remaining() != n) {
      throw new IllegalArgumentException(
          "tensor '" + name + "' has " + n + " elements, destination " + dst.remaining());
    }
    switch (info.dtype()) {
      case F32 -> dst.put(src.asFloatBuffer());
      case BF16, F16 -> widen16(src, dst, n, info.dtype() == StDType.BF16);
      case F8_E4M3 -> readFp8(name, info, src, dst);
      default -> throw unsupportedDtype(name, info);
    }
  }

  // bulk copies through arrays in blocks: a loop of single buffer gets and puts is several times
  // slower
  private static void widen16(ByteBuffer src, FloatBuffer dst, long n, boolean bf16) {
    var shorts = src.asShortBuffer();
    int block = (int) Math.min(n, 1 << 16);
    short[] in = new short[block];
    float[] out = new float[block];
    for (long done = 0; done < n; done += block) {
      int len = (int) Math.min(block, n - done);
      shorts.get(in, 0, len);
      if (bf16) {
        for (int i = 0; i < len; i++) {
          out[i] = Float.intBitsToFloat((in[i] & 0xFFFF) << 16);
        }
      } else {
        for (int i = 0; i < len; i++) {
          out[i] = halfToFloat(in[i]);
        }
      }
      dst.put(out, 0, len);
    }
  }

  private void readFp8(String name, TensorInfo info, ByteBuffer src, FloatBuffer dst)
      throws IOException {
    if (info.shape().length != 2) {
      throw new ModelConfigException(
          "FP8 tensor '" + name + "' must be a matrix, got " + info.shapeString());
    }
    int rows = Math.toIntExact(info.shape()[0]);
    int cols = Math.toIntExact(info.shape()[1]);
    String scaleName = name + "_scale_inv";
    check(scaleName, ceilDiv(rows, FP8_BLOCK), ceilDiv(cols, FP8_BLOCK));
    float[] scale = new float[Math.toIntExact(info(scaleName).numElements())];
    read(scaleName, FloatBuffer.wrap(scale));
    int blockCols = (int) ceilDiv(cols, FP8_BLOCK);
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        dst.put(E4M3[src.get() & 0xFF] * scale[(r / FP8_BLOCK) * blockCols + c / FP8_BLOCK]);
      }
    }
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }

  /** IEEE half to float (exact). */
  static float halfToFloat(short h) {
    int bits = h & 0xFFFF;
    int sign = (bits >>> 15) << 31;
    int exp = (bits >>> 10) & 0x1F;
    int mant = bits & 0x3FF;
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign == 0 ? v : -v;
    }
    if (exp == 0x1F) {
      return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /** The 256 values of float8 e4m3fn (no infinities; 0x7F and 0xFF are NaN). */
  static final float[] E4M3 = new float[256];

  static {
    for (int b = 0; b < 256; b++) {
      int exp = (b >>> 3) & 0xF;
      int mant = b & 7;
      float v;
      if (exp == 0xF && mant == 7) {
        v = Float.NaN;
      } else if (exp == 0) {
        v = mant / 8f * 0x1p-6f;
      } else {
        v = (1 + mant / 8f) * (float) Math.pow(2, exp - 7);
      }
      E4M3[b] = (b & 0x80) != 0 ? -v : v;
    }
  }

  /**
   * The tensor as a FLOAT32 ND4J array outside any workspace, after {@link #check}ing its shape:
   * F32/BF16/F16 by one native cast of the mapped bytes.
   */
  public INDArray array(String name, long... expected) throws IOException {
    check(name, expected);
    if (info(name).dtype() != StDType.F8_E4M3) {
      return NdArrays.readFloat(file(name), name);
    }
    float[] w = floats(name, expected);
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return Nd4j.create(w, expected, 'c');
    }
  }

  /** The dtype of a tensor. */
  public StDType dtype(String name) throws IOException {
    return info(name).dtype();
  }

  @Override
  public void close() throws IOException {
    for (SafetensorsFile f : files) {
      f.close();
    }
  }
}
