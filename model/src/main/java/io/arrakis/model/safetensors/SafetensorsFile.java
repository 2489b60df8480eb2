package io.arrakis.model.safetensors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file opened for reading. The header is read and validated at once; tensor data is
 * memory-mapped on demand, one tensor at a time, so a node touches only the tensors it serves.
 *
 * <p>Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
 * {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the data section
 * that follows the header), optionally {@code "__metadata__"} with string values.
 */
public final class SafetensorsFile implements AutoCloseable {

  /**
   * Larger headers are refused rather than read into memory (the reference implementation uses 100
   * MB).
   */
  public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

  // text after the header object (other than the writer's space padding) makes the header invalid
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final Path path;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;

  private SafetensorsFile(
      Path path,
      FileChannel channel,
      long dataStart,
      Map<String, TensorInfo> tensors,
      Map<String, String> metadata) {
    this.path = path;
    this.channel = channel;
    this.dataStart = dataStart;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens and validates a file; throws {@link SafetensorsException} naming the fault. */
  public static SafetensorsFile open(Path path) throws IOException {
    FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
    try {
      return read(path, channel);
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  private static SafetensorsFile read(Path path, FileChannel channel) throws IOException {
    long fileSize = channel.size();
    if (fileSize < 8) {
      throw fault(path, "file is " + fileSize + " bytes, shorter than the 8-byte header length");
    }
    ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(channel, lenBuf, 0);
    long headerLen = lenBuf.flip().getLong();
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES) {
      throw fault(
          path,
          "header length "
              + Long.toUnsignedString(headerLen)
              + " is absurd (must be 1.."
              + MAX_HEADER_BYTES
              + ")");
    }
    if (8 + headerLen > fileSize) {
      throw fault(
          path,
          "header length "
              + headerLen
              + " runs past the end of the file ("
              + fileSize
              + " bytes): file truncated?");
    }
    ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
    readFully(channel, headerBuf, 8);
    JsonNode header;
    try {
      header = JSON.readTree(new String(headerBuf.array(), StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw fault(path, "header is not valid JSON: " + e.getOriginalMessage());
    }
    if (header == null || !header.isObject()) {
      throw fault(path, "header must be a JSON object");
    }
    long dataStart = 8 + headerLen;
    long dataLen = fileSize - dataStart;

    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().equals("__metadata__")) {
        readMetadata(path, e.getValue(), metadata);
      } else {
        tensors.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataLen));
      }
    }
    checkNoOverlap(path, tensors.values());
    return new SafetensorsFile(
        path,
        channel,
        dataStart,
        Collections.unmodifiableMap(tensors),
        Collections.unmodifiableMap(metadata));
  }

  private static void readMetadata(Path path, JsonNode node, Map<String, String> into)
      throws SafetensorsException {
    if (!node.isObject()) {
      throw fault(path, "__metadata__ must be an object of strings");
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> m = it.next();
      if (!m.getValue().isTextual()) {
        throw fault(path, "__metadata__ value '" + m.getKey() + "' must be a string");
      }
      into.put(m.getKey(), m.getValue().textValue());
    }
  }

  private static TensorInfo parseEntry(Path path, String name, JsonNode node, long dataLen)
      throws SafetensorsException {
    String where = "tensor '" + name + "': ";
    if (!node.isObject()) {
      throw fault(path, where + "entry must be an object with dtype, shape and data_offsets");
    }
    JsonNode dtypeNode = node.get("dtype");
    if (dtypeNode == null || !dtypeNode.isTextual()) {
      throw fault(path, where + "missing or non-string dtype");
    }
    StDType dtype =
        StDType.named(dtypeNode.textValue())
            .orElseThrow(() -> fault(path, where + "unsupported dtype " + dtypeNode.textValue()));
    JsonNode shapeNode = node.get("shape");
    if (shapeNode == null || !shapeNode.isArray()) {
      throw fault(path, where + "missing or non-array shape");
    }
    long[] shape = new long[shapeNode.size()];
    long elements = 1;
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = shapeNode.get(i);
      if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
        throw fault(path, where + "shape dimension " + i + " is not a non-negative integer: " + d);
      }
      shape[i] = d.longValue();
      try {
        elements = Math.multiplyExact(elements, shape[i]);
      } catch (ArithmeticException overflow) {
        throw fault(path, where + "shape " + shapeNode + " overflows");
      }
    }
    JsonNode offsets = node.get("data_offsets");
    if (offsets == null
        || !offsets.isArray()
        || offsets.size() != 2
        || !offsets.get(0).isIntegralNumber()
        || !offsets.get(1).isIntegralNumber()
        || !offsets.get(0).canConvertToLong()
        || !offsets.get(1).canConvertToLong()) {
      throw fault(path, where + "data_offsets must be [begin, end] integers");
    }
    long begin = offsets.get(0).longValue();
    long end = offsets.get(1).longValue();
    if (begin < 0 || end < begin) {
      throw fault(
          path, where + "data_offsets [" + begin + ", " + end + "] are not an ascending range");
    }
    if (end > dataLen) {
      throw fault(
          path,
          where
              + "data_offsets ["
              + begin
              + ", "
              + end
              + "] run past the end of the data ("
              + dataLen
              + " bytes): file truncated?");
    }
    long expected;
    try {
      expected = Math.multiplyExact(elements, dtype.size());
    } catch (ArithmeticException overflow) {
      throw fault(path, where + "shape " + shapeNode + " overflows");
    }
    if (end - begin != expected) {
      throw fault(
          path,
          where
              + "byte range is "
              + (end - begin)
              + " bytes but shape "
              + shapeNode
              + " of "
              + dtype
              + " needs "
              + expected);
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  private static void checkNoOverlap(Path path, Collection<TensorInfo> infos)
      throws SafetensorsException {
    List<TensorInfo> sorted = new ArrayList<>(infos);
    sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    for (int i = 1; i < sorted.size(); i++) {
      TensorInfo prev = sorted.get(i - 1);
      TensorInfo cur = sorted.get(i);
      if (cur.begin() < prev.end() && cur.byteLength() > 0) {
        throw fault(
            path,
            "tensor '"
                + cur.name()
                + "' overlaps tensor '"
                + prev.name()
                + "' (bytes ["
                + cur.begin()
                + ", "
                + cur.end()
                + ") and ["
                + prev.begin()
                + ", "
                + prev.end()
                + "))");
      }
    }
  }

  private static void readFully(FileChannel channel, ByteBuffer buf, long position)
      throws IOException {
    long pos = position;
    while (buf.hasRemaining()) {
      int n = channel.read(buf, pos);
      if (n < 0) {
        throw new SafetensorsException("unexpected end of file at byte " + pos);
      }
      pos += n;
    }
  }

  private static SafetensorsException fault(Path path, String message) {
    return new SafetensorsException(path + ": " + message);
  }

  public Path path() {
    return path;
  }

  /** All tensors, in header order. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** The {@code __metadata__} strings (empty when absent). */
  public Map<String, String> metadata() {
    return metadata;
  }

  public boolean contains(String name) {
    return tensors.containsKey(name);
  }

  /** The header entry of a tensor; throws naming the tensor and the file when absent. */
  public TensorInfo info(String name) throws SafetensorsException {
    TensorInfo info = tensors.get(name);
    if (info == null) {
      throw fault(path, "no tensor named '" + name + "'");
    }
    return info;
  }

  /** The tensor's bytes, memory-mapped read-only, little-endian. */
  public ByteBuffer bytes(String name) throws IOException {
    TensorInfo info = info(name);
    return channel
        .map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin(), info.byteLength())
        .order(ByteOrder.LITTLE_ENDIAN);
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
