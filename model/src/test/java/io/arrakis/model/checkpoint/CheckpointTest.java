package io.arrakis.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.config.ModelConfigException;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tensor.Bf16;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sharded checkpoints, dtype widening and FP8 block dequantisation. */
class CheckpointTest {
  @TempDir Path dir;

  private static ByteBuffer floats(StDType t, float... v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * t.size()).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) {
      switch (t) {
        case F32 -> b.putFloat(f);
        case BF16 -> b.putShort(Bf16.fromFloat(f));
        default -> throw new IllegalArgumentException();
      }
    }
    return b.flip();
  }

  private void write(String file, Map<SafetensorsWriter.Entry, ByteBuffer> tensors)
      throws IOException {
    SafetensorsWriter.write(dir.resolve(file), tensors, Map.of());
  }

  @Test
  void shardsListedByTheIndexAreReadAndWidened() throws IOException {
    Map<SafetensorsWriter.Entry, ByteBuffer> a = new LinkedHashMap<>();
    a.put(
        new SafetensorsWriter.Entry("a", StDType.BF16, new long[] {2}),
        floats(StDType.BF16, 1.5f, -2f));
    write("model-00001-of-00002.safetensors", a);
    Map<SafetensorsWriter.Entry, ByteBuffer> b = new LinkedHashMap<>();
    b.put(
        new SafetensorsWriter.Entry("b", StDType.F16, new long[] {1, 2}),
        ByteBuffer.allocate(4)
            .order(ByteOrder.LITTLE_ENDIAN)
            .putShort((short) 0x3400)
            .putShort((short) 0x7BFF)
            .flip()); // 0.25, 65504
    write("model-00002-of-00002.safetensors", b);
    write(
        "model-stray.safetensors",
        Map.of(
            new SafetensorsWriter.Entry("c", StDType.F32, new long[] {1}),
            floats(StDType.F32, 3f)));
    Files.writeString(
        dir.resolve(Checkpoint.INDEX),
        "{\"metadata\": {}, \"weight_map\": {\"a\": "
            + "\"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}");

    try (Checkpoint ck = Checkpoint.open(dir)) {
      assertThat(ck.names())
          .containsExactlyInAnyOrder("a", "b"); // the stray file is not in the index
      assertThat(ck.floats("a", 2)).containsExactly(1.5f, -2f);
      assertThat(ck.floats("b", 1, 2)).containsExactly(0.25f, 65504f);
      assertThatThrownBy(() -> ck.floats("b", 2))
          .isInstanceOf(ModelConfigException.class)
          .hasMessageContaining("tensor 'b' has shape [1, 2], config.json implies [2]");
    }
  }

  @Test
  void aShardMissingFromTheDirectoryIsNamed() throws IOException {
    Files.writeString(
        dir.resolve(Checkpoint.INDEX),
        "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\"}}");
    assertThatThrownBy(() -> Checkpoint.open(dir))
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("names shard model-00001-of-00002.safetensors, which is missing");
  }

  @Test
  void fp8WeightsAreDequantisedWithTheir128By128BlockScales() throws IOException {
    int rows = 130;
    int cols = 260;
    byte[] q = new byte[rows * cols];
    float[] want = new float[rows * cols];
    float[] scale = {0.5f, 2f, 4f, 1f, 0.25f, 8f}; // [2, 3] blocks
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        int code = (r * 7 + c * 3) % 256;
        if ((code & 0x7F) == 0x7F) {
          code = 0x40; // skip NaN codes: 2.0
        }
        q[r * cols + c] = (byte) code;
        want[r * cols + c] = e4m3(code) * scale[(r / 128) * 3 + c / 128];
      }
    }
    Map<SafetensorsWriter.Entry, ByteBuffer> t = new LinkedHashMap<>();
    t.put(
        new SafetensorsWriter.Entry("w.weight", StDType.F8_E4M3, new long[] {rows, cols}),
        ByteBuffer.wrap(q));
    t.put(
        new SafetensorsWriter.Entry("w.weight_scale_inv", StDType.F32, new long[] {2, 3}),
        floats(StDType.F32, scale));
    write("model.safetensors", t);

    try (Checkpoint ck = Checkpoint.open(dir)) {
      assertThat(ck.floats("w.weight", rows, cols)).containsExactly(want);
    }
    assertThat(e4m3(0x7E)).isEqualTo(448f);
    assertThat(e4m3(0x01)).isEqualTo(0x1p-9f);
    assertThat(e4m3(0xC0)).isEqualTo(-2f);
  }

  /**
   * e4m3fn by its definition: sign, 4 exponent bits (bias 7), 3 mantissa bits, subnormals at
   * exponent 0.
   */
  private static float e4m3(int code) {
    int e = (code >> 3) & 15;
    int m = code & 7;
    double v = e == 0 ? m / 8.0 * Math.pow(2, -6) : (1 + m / 8.0) * Math.pow(2, e - 7);
    return (float) ((code & 0x80) != 0 ? -v : v);
  }
}
