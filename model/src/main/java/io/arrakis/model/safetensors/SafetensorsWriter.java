package io.arrakis.model.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file as a stream: the header is computed from the declared tensors up front,
 * then each tensor's bytes are written in declaration order, so a large model never sits in memory.
 */
public final class SafetensorsWriter implements AutoCloseable {

  /** A tensor to write. */
  public record Entry(String name, StDType dtype, long[] shape) {
    long byteLength() {
      long n = dtype.size();
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private final FileChannel channel;
  private final List<Entry> entries;
  private int next;
  private long remainingInCurrent;

  private SafetensorsWriter(FileChannel channel, List<Entry> entries) {
    this.channel = channel;
    this.entries = entries;
    this.remainingInCurrent = entries.isEmpty() ? 0 : entries.get(0).byteLength();
  }

  /** Creates (or replaces) {@code path} and writes its header. */
  public static SafetensorsWriter create(
      Path path, List<Entry> entries, Map<String, String> metadata) throws IOException {
    ObjectNode header = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Entry e : entries) {
      if (header.has(e.name())) {
        throw new IllegalArgumentException(
            "tensor '" + e.name() + "' declared twice (or named like the metadata)");
      }
      ObjectNode t = header.putObject(e.name());
      t.put("dtype", e.dtype().name());
      var shape = t.putArray("shape");
      for (long d : e.shape()) {
        shape.add(d);
      }
      long len = e.byteLength();
      t.putArray("data_offsets").add(offset).add(offset + len);
      offset += len;
    }
    byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    int padded =
        (json.length + 7)
            / 8
            * 8; // the data section starts 8-byte aligned, as the reference writer does
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    FileChannel channel =
        FileChannel.open(
            path,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE);
    writeFully(channel, head.flip());
    return new SafetensorsWriter(channel, List.copyOf(entries));
  }

  /** Writes a whole file whose tensors are already in memory. */
  public static void write(Path path, Map<Entry, ByteBuffer> tensors, Map<String, String> metadata)
      throws IOException {
    try (SafetensorsWriter w = create(path, List.copyOf(tensors.keySet()), metadata)) {
      for (ByteBuffer b : tensors.values()) {
        w.write(b.duplicate());
      }
    }
  }

  /**
   * Appends bytes of the current tensor (little-endian); a tensor may be written in several pieces.
   */
  public void write(ByteBuffer data) throws IOException {
    while (data.hasRemaining()) {
      if (next >= entries.size()) {
        throw new IOException("more bytes written than the declared tensors hold");
      }
      int chunk = (int) Math.min(data.remaining(), remainingInCurrent);
      ByteBuffer slice = data.slice().limit(chunk);
      writeFully(channel, slice);
      data.position(data.position() + chunk);
      remainingInCurrent -= chunk;
      advancePastFinished();
    }
  }

  private void advancePastFinished() {
    while (remainingInCurrent == 0 && next < entries.size()) {
      next++;
      remainingInCurrent = next < entries.size() ? entries.get(next).byteLength() : 0;
    }
  }

  private static void writeFully(FileChannel channel, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      channel.write(buf);
    }
  }

  @Override
  public void close() throws IOException {
    advancePastFinished();
    try {
      if (next < entries.size()) {
        throw new IOException("tensor '" + entries.get(next).name() + "' was not fully written");
      }
    } finally {
      channel.close();
    }
  }
}
